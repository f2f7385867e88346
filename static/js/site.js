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
})();
