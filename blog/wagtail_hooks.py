"""The CMS as a doctor sees it: the articles section and the images for them, nothing else."""

from django.db.models import Q
from wagtail import hooks

from blog.permissions import others_unpublished_drafts
from core.models import Role

# Menu items a doctor keeps (by Wagtail's item name): the page explorer (it opens on the
# article index, the only place they hold permissions), images for their articles, and help.
DOCTOR_MENU_ITEMS = {"explorer", "images", "help"}


def _is_doctor(request) -> bool:
    return getattr(request.user, "role", None) == Role.DOCTOR


@hooks.register("construct_main_menu")
def doctors_see_the_articles_section_only(request, menu_items):
    """Wagtail shows reports (site history, aging pages, workflows) to anyone who may add pages;
    a doctor writing an article has no use for them."""
    if _is_doctor(request):
        menu_items[:] = [item for item in menu_items if item.name in DOCTOR_MENU_ITEMS]


@hooks.register("construct_explorer_page_queryset")
def doctors_list_their_own_drafts(parent_page, pages, request):
    """In the explorer a doctor sees published articles and their own, never another doctor's
    unpublished draft (its title included). Search and site history go through the permission
    policy's `explorable_instances`, which excludes the same (`blog.permissions`)."""
    if _is_doctor(request):
        return pages.filter(Q(live=True) | Q(owner=request.user))
    return pages


@hooks.register("construct_page_chooser_queryset")
def doctors_choose_among_published_and_their_own(pages, request):
    """Linking to a page from an article: the same pages a doctor may see in the explorer."""
    if _is_doctor(request):
        return pages.exclude(others_unpublished_drafts(request.user))
    return pages
