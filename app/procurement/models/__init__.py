"""Enterprise procurement models, one module per concern; this package gives them all."""

from app.procurement.models.budgets import ApprovalRule, Budget, StepKind
from app.procurement.models.grants import GRANT_TRANSITIONS, GS, Grant, GrantOrder, GrantStatus
from app.procurement.models.invitations import EmployeeInvitation, InvitationStatus
from app.procurement.models.invoices import INVOICE_TRANSITIONS, Invoice, InvoiceStatus
from app.procurement.models.organization import Department, Employee, Enterprise
from app.procurement.models.packs import Pack, PackItem, PackKind
from app.procurement.models.requests import (
    REQUEST_TRANSITIONS,
    RS,
    SS,
    STEP_TRANSITIONS,
    ApprovalStep,
    ProcurementRequest,
    ReclaimMode,
    RequestEvent,
    RequestRecipient,
    RequestStatus,
    StepStatus,
    Target,
)

__all__ = ['Enterprise', 'Department', 'Employee', 'Budget', 'StepKind', 'ApprovalRule', 'PackKind', 'Pack', 'PackItem', 'Target', 'ReclaimMode', 'RequestStatus', 'RS', 'REQUEST_TRANSITIONS', 'ProcurementRequest', 'RequestRecipient', 'StepStatus', 'SS', 'STEP_TRANSITIONS', 'ApprovalStep', 'RequestEvent', 'InvoiceStatus', 'INVOICE_TRANSITIONS', 'Invoice', 'GrantStatus', 'GS', 'GRANT_TRANSITIONS', 'Grant', 'GrantOrder', 'EmployeeInvitation', 'InvitationStatus']
