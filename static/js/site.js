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

  // Toasts pushed over the WebSocket fade out on their own after a while; regions that show
  // live data (the doctor's agenda) listen for "notificationReceived" and refresh themselves.
  // Only a new notification is news: not a count sent because one was read in another tab,
  // nor a message on another page socket (a chat room).
  document.body.addEventListener("htmx:wsAfterMessage", function (event) {
    var message = (event.detail && event.detail.message) || "";
    if (event.target.id === "live-notifications" && message.indexOf("data-notification=") !== -1) {
      htmx.trigger(document.body, "notificationReceived");
    }
    // The "nothing yet" line goes once a live item has arrived above it.
    var empty = document.getElementById("notification-items-empty");
    if (empty && empty.parentElement.children.length > 1) { empty.remove(); }
    document.querySelectorAll(".toast:not([data-timer])").forEach(function (toast) {
      toast.dataset.timer = "1";
      setTimeout(function () { toast.remove(); }, 8000);
    });
  });
  // Mirror the server's idle logout: once the idle limit has passed without a request, reload;
  // the server then answers with the sign-in page and the patient data leaves the screen.
  var idleSeconds = parseInt(document.body.dataset.idleSeconds || "0", 10);
  if (idleSeconds > 0) {
    var idleTimer;
    var armIdleTimer = function () {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(function () { window.location.reload(); }, (idleSeconds + 5) * 1000);
    };
    armIdleTimer();
    document.body.addEventListener("htmx:afterRequest", function (event) {
      var headers = (event.detail.requestConfig && event.detail.requestConfig.headers) || {};
      // Widgets refreshing themselves are not activity, for the server nor here.
      if (!headers["X-Background-Refresh"]) { armIdleTimer(); }
    });
  }

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
