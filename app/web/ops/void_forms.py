from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileSize
from wtforms import BooleanField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from app.core.labels import LABELS
from app.service.void_models import VoidRule
from app.web.forms import REQUIRED

#: An uploaded list of codes: one a line (50,000 codes of 64 characters fit).
MAX_LIST_BYTES = 4 << 20


class VoidForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(max=500)],
                           render_kw={"rows": 2})
    rule = RadioField(_l("Sold codes"), default=VoidRule.replace, validators=[InputRequired(REQUIRED)],
                      choices=[SelectChoice(r.value, LABELS["void_rule"][r.value]) for r in VoidRule])
    confirm = BooleanField(_l("I understand: voided codes can never be sold again, and every sold one is "
                              "replaced or refunded."), validators=[DataRequired(_l("Tick the box to confirm."))])


class CodeListVoidForm(VoidForm):
    codes = TextAreaField(_l("Codes, one a line"), render_kw={"rows": 8, "autocomplete": "off",
                                                               "spellcheck": "false"})
    file = FileField(_l("…or a file (TXT or CSV, one code a line)"), validators=[
        FileAllowed(["txt", "csv"], _l("Upload a .txt or .csv file.")),
        FileSize(MAX_LIST_BYTES, message=_l("The file is too big (4 MB at most)."))])
