// Small behaviours the site needs beyond htmx. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  // Keep the live-notification socket's unread badge in step after "mark all read".
  document.body.addEventListener("notificationsRead", function () {
    var badge = document.getElementById("unread-count");
    if (badge) {
      badge.textContent = "0";
      badge.classList.add("badge-empty");
    }
  });

  // Toasts pushed over the WebSocket fade out on their own after a while.
  document.body.addEventListener("htmx:wsAfterMessage", function () {
    document.querySelectorAll(".toast:not([data-timer])").forEach(function (toast) {
      toast.dataset.timer = "1";
      setTimeout(function () { toast.remove(); }, 8000);
    });
  });
  // htmx does not swap error responses; tell the user instead of doing nothing.
  function showError(text) {
    var region = document.getElementById("messages");
    if (!region) { return; }
    var message = document.createElement("p");
    message.className = "message message-error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    region.replaceChildren(message);
  }
  document.body.addEventListener("htmx:responseError", function (event) {
    // The texts come translated from base.html's data attributes.
    var texts = document.body.dataset;
    var status = event.detail.xhr.status;
    showError(texts["error-" + status] || texts.errorOther);
  });
  document.body.addEventListener("htmx:sendError", function () {
    showError(document.body.dataset.errorOffline);
  });
})();
