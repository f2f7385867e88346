// SOS: press and hold to start a 5-second countdown that can be cancelled, then send; share the
// browser's location if the person allows it. Without JavaScript the button simply submits.
// No inline scripts or styles: the CSP forbids them.
(function () {
  "use strict";

  var HOLD_MS = 1000;
  var COUNTDOWN_SECONDS = 5;

  var form = document.getElementById("sos-form");
  var button = document.getElementById("sos-button");
  if (form && button) { setUpButton(form, button); }
  var locate = document.getElementById("sos-locate");
  if (form && locate) { setUpLocation(form, locate); }

  // A live socket that comes back after a drop (a deploy, a flaky network) reloads what it
  // shows, so an alert or a change sent in between is not missed.
  document.body.addEventListener("htmx:wsOpen", function (event) {
    var socket = event.target;
    if (!socket || !socket.dataset || !socket.dataset.refreshUrl) { return; }
    if (socket.dataset.opened) {
      htmx.ajax("GET", socket.dataset.refreshUrl, {
        target: socket.dataset.refreshTarget,
        swap: "outerHTML",
        headers: { "X-Background-Refresh": "1" }
      });
    }
    socket.dataset.opened = "1";
  });

  // A new alert on the staff board: say so in the tab's title until the page is looked at.
  var baseTitle = document.title;
  document.body.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "sos-open-list" && document.hidden) {
      document.title = "(!) SOS · " + baseTitle;
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { document.title = baseTitle; }
  });

  function setUpButton(form, button) {
    var hold = document.getElementById("sos-hold");
    var how = document.getElementById("sos-how");
    var countdown = document.getElementById("sos-countdown");
    var seconds = document.getElementById("sos-seconds");
    var cancel = document.getElementById("sos-countdown-cancel");
    var sending = document.getElementById("sos-sending");
    if (how && how.dataset.jsText) { how.textContent = how.dataset.jsText; }

    var holdStart = null;
    var holdFrame = null;
    var timer = null;
    var remaining = 0;
    var sent = false;

    function resetHold() {
      if (holdFrame) { cancelAnimationFrame(holdFrame); }
      holdFrame = null;
      holdStart = null;
      hold.value = 0;
      hold.hidden = true;
      button.classList.remove("sos-holding");
    }

    function tick(now) {
      if (holdStart === null) { return; }
      var progress = Math.min(100, ((now - holdStart) / HOLD_MS) * 100);
      hold.value = progress;
      if (progress >= 100) {
        resetHold();
        startCountdown();
        return;
      }
      holdFrame = requestAnimationFrame(tick);
    }

    function startHold() {
      if (sent || timer !== null || holdStart !== null) { return; }
      holdStart = performance.now();
      hold.hidden = false;
      button.classList.add("sos-holding");
      holdFrame = requestAnimationFrame(tick);
    }

    function startCountdown() {
      remaining = COUNTDOWN_SECONDS;
      seconds.textContent = String(remaining);
      countdown.hidden = false;
      button.disabled = true;
      cancel.focus();
      timer = setInterval(function () {
        remaining -= 1;
        seconds.textContent = String(Math.max(remaining, 0));
        if (remaining <= 0) {
          clearInterval(timer);
          timer = null;
          send();
        }
      }, 1000);
    }

    function stopCountdown() {
      if (timer !== null) { clearInterval(timer); }
      timer = null;
      countdown.hidden = true;
      button.disabled = false;
      button.focus();
    }

    function send() {
      sent = true;
      countdown.hidden = true;
      sending.hidden = false;
      // submit() skips the submit event, so the click guard below does not stop it.
      form.submit();
    }

    // With JavaScript the button never submits by a plain click: only the hold and countdown.
    button.addEventListener("click", function (event) { event.preventDefault(); });
    button.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      button.setPointerCapture && button.setPointerCapture(event.pointerId);
      startHold();
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (name) {
      button.addEventListener(name, resetHold);
    });
    button.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    button.addEventListener("keydown", function (event) {
      if (event.key !== " " && event.key !== "Enter") { return; }
      event.preventDefault();
      if (!event.repeat) { startHold(); }
    });
    button.addEventListener("keyup", function (event) {
      if (event.key !== " " && event.key !== "Enter") { return; }
      event.preventDefault();
      resetHold();
    });
    cancel.addEventListener("click", stopCountdown);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && timer !== null) { stopCountdown(); }
    });
    // Pressing Enter in a text field must not send an SOS without the countdown.
    form.addEventListener("submit", function (event) {
      if (!sent) { event.preventDefault(); }
    });
  }

  function setUpLocation(form, locate) {
    var status = document.getElementById("sos-location-status");
    var fields = {
      latitude: form.querySelector("[name=latitude]"),
      longitude: form.querySelector("[name=longitude]"),
      accuracy: form.querySelector("[name=accuracy]")
    };
    locate.hidden = false;
    locate.addEventListener("click", function () {
      if (!("geolocation" in navigator)) {
        status.textContent = status.dataset.unsupported;
        return;
      }
      status.textContent = status.dataset.sharing;
      locate.disabled = true;
      navigator.geolocation.getCurrentPosition(function (position) {
        var c = position.coords;
        fields.latitude.value = c.latitude.toFixed(6);
        fields.longitude.value = c.longitude.toFixed(6);
        fields.accuracy.value = String(Math.round(c.accuracy));
        status.textContent = status.dataset.shared
          .replace("%(lat)s", fields.latitude.value)
          .replace("%(lon)s", fields.longitude.value)
          .replace("%(acc)s", fields.accuracy.value);
        locate.disabled = false;
      }, function (error) {
        fields.latitude.value = fields.longitude.value = fields.accuracy.value = "";
        status.textContent = error.code === 1 ? status.dataset.denied : status.dataset.failed;
        locate.disabled = false;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }
})();
