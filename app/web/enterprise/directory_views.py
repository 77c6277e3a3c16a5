"""The company directory: departments (with their approver), employees (search, add, edit, deactivate, an
activation link for someone who has no password yet) and the file import. HR admins write; approvers read."""

from flask import flash, g, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import Length

from app.accounts import activation
from app.accounts.models import Role
from app.core.errors import DomainError
from app.procurement import directory, employee_import, row_checks
from app.web.access import roles_required
from app.web.enterprise import bp
from app.web.forms import show_error
from app.web.paging import page_number
from app.web.render import render

PER_PAGE = 20


def _actor():
    return current_user._get_current_object()


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


# --- departments ----------------------------------------------------------------------------------------

class DepartmentForm(FlaskForm):
    name = StringField(_l("Department name"), validators=[Length(max=directory.MAX_DEPARTMENT)])
    # Any id goes to the service, which says why someone cannot approve (another company's, an employee…).
    approver = SelectField(_l("Approver"), coerce=_optional_int, validate_choice=False,
                           description=_l("Approves this department's requests at the department step."))


def _department_form(**kwargs) -> DepartmentForm:
    form = DepartmentForm(**kwargs)
    form.approver.choices = [SelectChoice("", _("— nobody yet —"))] + [
        SelectChoice(u.id, f"{u.name} ({u.email or u.phone})") for u in directory.approver_choices(g.enterprise)]
    return form


def _departments_page(form: DepartmentForm, status_code: int = 200):
    page = directory.departments_page(g.enterprise, page_number())
    return render("enterprise/departments.html", page=page, form=form,
                  status_code=status_code)


@bp.get("/departments")
def departments():
    return _departments_page(_department_form())


@bp.post("/departments")
@roles_required(Role.hr_admin)
def department_new():
    form = _department_form()
    if form.validate_on_submit():
        try:
            dept = directory.create_department(g.enterprise, _actor(), form.name.data, form.approver.data)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("Department %(name)s added.", name=dept.name), "success")
            return redirect(url_for("enterprise.departments"), 303)
    return _departments_page(form, 422)


@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def department_edit(department_id: int):
    dept = directory.get_department(g.enterprise, department_id)
    form = _department_form(name=dept.name, approver=dept.approver_id)
    if form.validate_on_submit():
        try:
            directory.update_department(g.enterprise, _actor(), dept.id, form.name.data, form.approver.data)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("Department %(name)s saved.", name=dept.name), "success")
            return redirect(url_for("enterprise.departments"), 303)
    return render("enterprise/department_form.html", form=form, dept=dept,
                  status_code=422 if request.method == "POST" else 200)


# --- employees ------------------------------------------------------------------------------------------

class EmployeeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=row_checks.MAX_NAME)])
    email = StringField(_l("Email"), validators=[Length(max=254)])
    phone = StringField(_l("Mobile number"), validators=[Length(max=20)],
                        description=_l("Give an email address or a mobile number (or both): it is their login."))
    department = SelectField(_l("Department"), coerce=_optional_int, validate_choice=False)
    employee_no = StringField(_l("Employee number"), validators=[Length(max=row_checks.MAX_NO)])


def _employee_form(**kwargs) -> EmployeeForm:
    form = EmployeeForm(**kwargs)
    form.department.choices = [SelectChoice("", "—")] + [SelectChoice(d.id, d.name)
                                                         for d, _n in directory.departments(g.enterprise)]
    return form


def _fields(form: EmployeeForm) -> dict:
    return {"name": form.name.data or "", "email": form.email.data or "", "phone": form.phone.data or "",
            "department_id": form.department.data, "employee_no": form.employee_no.data or ""}


@bp.get("/employees")
def employees():
    q = (request.args.get("q") or "").strip()[:64]
    department_id = request.args.get("department", type=int)
    page = directory.employees(g.enterprise, q=q or None, department_id=department_id,
                               page=request.args.get("page", 1, type=int), per_page=PER_PAGE)
    return render("enterprise/employees.html", "results", page=page, q=q, department_id=department_id,
                  departments=directory.departments(g.enterprise), has_password=activation.has_password)


@bp.route("/employees/new", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def employee_new():
    form = _employee_form(department=request.args.get("department", type=int))
    if form.validate_on_submit():
        try:
            directory.add_employee(g.enterprise, _actor(), **_fields(form))
        except DomainError as e:
            show_error(form, e)
        else:  # the same answer whether a new account was made or an existing one's owner invited
            flash(_("%(name)s added to the directory.", name=" ".join(form.name.data.split())), "success")
            return redirect(url_for("enterprise.employees"), 303)
    return render("enterprise/employee_form.html", form=form, emp=None, login_owned=False,
                  status_code=422 if request.method == "POST" else 200)


@bp.route("/employees/<int:employee_id>/edit", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def employee_edit(employee_id: int):
    emp = directory.get_employee(g.enterprise, employee_id)
    form = _employee_form(name=emp.name, email=emp.user.email or "", phone=emp.user.phone or "",
                          department=emp.department_id, employee_no=emp.employee_no)
    if form.validate_on_submit():
        try:
            directory.edit_employee(g.enterprise, _actor(), emp.id, **_fields(form))
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("%(name)s saved.", name=emp.name), "success")
            return redirect(url_for("enterprise.employee", employee_id=emp.id), 303)
    return render("enterprise/employee_form.html", form=form, emp=emp, login_owned=activation.has_password(emp.user),
                  status_code=422 if request.method == "POST" else 200)


def _employee_page(emp, link: str | None = None, status_code: int = 200):
    resp = render("enterprise/employee.html", emp=emp, has_password=activation.has_password(emp.user), link=link,
                  status_code=status_code)
    if link:  # the link is shown once: only its hash is kept
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/employees/<int:employee_id>")
def employee(employee_id: int):
    return _employee_page(directory.get_employee(g.enterprise, employee_id))


@bp.post("/employees/<int:employee_id>/activation")
@roles_required(Role.hr_admin)
def employee_activation(employee_id: int):
    try:
        link = directory.activation_link(g.enterprise, _actor(), employee_id)
    except DomainError as e:
        if e.status == 404:
            raise
        flash(str(e.message), "danger")
        return redirect(url_for("enterprise.employee", employee_id=employee_id), 303)
    return _employee_page(directory.get_employee(g.enterprise, employee_id),
                          link=request.host_url.rstrip("/") + link)


@bp.post("/employees/<int:employee_id>/active")
@roles_required(Role.hr_admin)
def employee_active(employee_id: int):
    active = request.form.get("active") == "1"
    try:
        emp = directory.set_active(g.enterprise, _actor(), employee_id, active)
    except DomainError as e:
        if e.status == 404:
            raise
        flash(str(e.message), "danger")
    else:
        flash(_("%(name)s is active again.", name=emp.name) if active else
              _("%(name)s is deactivated.", name=emp.name), "success")
    return redirect(url_for("enterprise.employee", employee_id=employee_id), 303)


# --- import ---------------------------------------------------------------------------------------------

class ImportForm(FlaskForm):
    file = FileField(_l("CSV or XLSX file"), validators=[FileRequired(_l("Choose a file."))])


@bp.route("/employees/import", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def employees_import():
    form = ImportForm()
    problems = None
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.stream.read(employee_import.MAX_BYTES + 1)
        try:
            result = directory.import_file(g.enterprise, _actor(), upload.filename or "", data)
        except employee_import.ImportRefused as e:
            problems = e.problems
        else:
            flash(_("%(n)s employees imported.", n=result.total), "success")
            return redirect(url_for("enterprise.employees"), 303)
    return render("enterprise/import.html", form=form, problems=problems,
                  max_rows=employee_import.MAX_ROWS, max_mb=employee_import.MAX_BYTES // (1024 * 1024),
                  status_code=422 if request.method == "POST" else 200)


@bp.get("/employees/import/template.csv")
@roles_required(Role.hr_admin)
def employees_template():
    resp = make_response(employee_import.template_csv())
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = "attachment; filename=employees.csv"
    return resp
