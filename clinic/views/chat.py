"""Consultation chat pages: the transcript (readable forever by participants), sending without
JavaScript, and the doctor ending the chat. Live messages go over the socket
(`clinic.consumers.chat`); every page here also works as plain HTML forms and links."""

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic.models import ChatMessage
from clinic.permissions import get_chat_appointment_for_user
from clinic.selectors import chat_display_name, chat_transcript
from clinic.services.chat import (
    ChatError,
    chat_close,
    chat_message_send,
    chat_room_closed_push,
    chat_state,
)
from core.htmx import render_page
from core.models import AuditEvent
from core.services import audit_record

TEMPLATE = "clinic/chat.html"
# A refused message: too long is bad input, too fast is a rate limit, a closed room a conflict.
ERROR_STATUS = {ChatError.TOO_LONG: 400, ChatError.RATE_LIMITED: 429, ChatError.CLOSED: 409}


def _message_before(appointment, value: str | None) -> ChatMessage | None:
    """The message `?before=` points at, within this chat only; anything else is ignored."""
    if not value:
        return None
    try:
        public_id = UUID(value)
    except ValueError:
        return None
    return ChatMessage.objects.filter(appointment=appointment, public_id=public_id).first()


@require_http_methods(["GET", "POST"])
@login_required
def chat_page(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """GET: the transcript (the latest messages, or those before `?before=`), who has seen
    what, the state of the chat and, while it is open, the send form. POST: send a message
    without JavaScript, then back to the page. Participants only (404 for everyone else);
    each read is audited with the patient."""
    appointment, participant = get_chat_appointment_for_user(request, public_id)
    status, error, draft = 200, "", ""
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            chat_message_send(
                appointment=appointment, sender=request.user, body=body, request=request
            )
        except ChatError as refusal:
            status, error, draft = ERROR_STATUS[refusal.code], refusal.message, body
            if refusal.code == ChatError.CLOSED:
                appointment.refresh_from_db()
                chat_room_closed_push(appointment)
        else:
            return redirect(reverse("appointment_chat", args=[appointment.public_id]))
    before = _message_before(appointment, request.GET.get("before"))
    lines, has_earlier = chat_transcript(appointment, viewer=request.user, before=before)
    audit_record(
        action=AuditEvent.Action.VIEW,
        actor=request.user,
        request=request,
        target=appointment,
        patient=appointment.patient,
        acting_for_patient=participant.acting_for_patient,
        details={"chat": "transcript", "before": str(before.public_id) if before else ""},
    )
    context = {
        "appointment": appointment,
        "lines": lines,
        "has_earlier": has_earlier,
        "before": before,
        "viewer_id": request.user.pk,
        "is_doctor": participant.is_doctor,
        "doctor_name": chat_display_name(appointment.doctor.user, appointment),
        "max_length": settings.CHAT_MESSAGE_MAX_LENGTH,
        "error": error,
        "draft": draft,
        **chat_state(appointment),
    }
    response = render_page(
        request, TEMPLATE, context, partials={"chat-earlier": "earlier_page"}, status=status
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@login_required
def chat_end(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The doctor ends the chat for everyone (403 for the other participants, 404 for the
    rest). Ending an ended chat changes nothing."""
    appointment, participant = get_chat_appointment_for_user(request, public_id)
    if not participant.is_doctor:
        raise PermissionDenied
    chat_close(appointment=appointment, by=request.user, request=request)
    messages.success(request, _("The chat has ended."))
    return redirect(reverse("appointment_chat", args=[appointment.public_id]))
