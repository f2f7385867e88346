"""The CMS form of an article: the author is set by the server, never chosen."""

from __future__ import annotations

from wagtail.admin.forms import WagtailAdminPageForm

from blog.permissions import doctor_may_author


class ArticlePageForm(WagtailAdminPageForm):
    """An article's editing form. `author`, `medically_reviewed_on` and `medical_reviewer` are
    not form fields (their panels are read-only), so no request can set them; a new article
    gets its author from the doctor who writes it, and keeps it through later edits."""

    def clean(self):
        cleaned_data = super().clean()
        page = self.instance
        if page.author_id is None and doctor_may_author(self.for_user):
            page.author = self.for_user.doctor
        return cleaned_data
