// Consultation chat: read receipts, scrolling and the composer. The page works without this
// file (a plain form and links); htmx's ws extension does the sending and the swapping.
(function () {
  "use strict";

  var room = document.getElementById("chat");
  if (!room) { return; }
  var socket = null;

  function transcript() { return document.getElementById("chat-transcript"); }

  function scrollToNewest() {
    var box = transcript();
    if (box) { box.scrollTop = box.scrollHeight; }
  }

  // Tell the server how far this person has read: the newest message someone else sent, and
  // only while the page is actually visible.
  function markRead() {
    if (!socket || document.visibilityState !== "visible") { return; }
    var box = transcript();
    if (!box) { return; }
    var theirs = box.querySelectorAll(".chat-message[data-mine='0']");
    if (!theirs.length) { return; }
    var newest = theirs[theirs.length - 1].dataset.messageId;
    if (newest && newest !== room.dataset.lastRead) {
      room.dataset.lastRead = newest;
      socket.send(JSON.stringify({ read: newest }));
    }
  }

  room.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
  });
  room.addEventListener("htmx:wsClose", function () {
    socket = null;
    room.dataset.lastRead = "";
  });
  room.addEventListener("htmx:wsAfterMessage", function (event) {
    socket = event.detail.socketWrapper || socket;
    var empty = document.getElementById("chat-empty");
    if (empty && transcript().querySelector(".chat-message")) { empty.remove(); }
    scrollToNewest();
    markRead();
  });
  // After a message went out over the socket: empty the box for the next one.
  room.addEventListener("htmx:wsAfterSend", function (event) {
    var form = event.target.closest("form");
    if (form) { form.reset(); }
    var box = document.getElementById("chat-body");
    if (box) { box.focus(); }
  });
  // Enter sends, Shift+Enter starts a new line.
  room.addEventListener("keydown", function (event) {
    if (event.target.id !== "chat-body" || event.key !== "Enter" || event.shiftKey) { return; }
    event.preventDefault();
    event.target.form.requestSubmit();
  });
  document.addEventListener("visibilitychange", markRead);
  scrollToNewest();

  // A chat that opens within the hour: load the page again when it does, to join it.
  var opensIn = parseInt(room.dataset.opensIn || "0", 10);
  if (opensIn > 0 && opensIn <= 3600) {
    setTimeout(function () { window.location.reload(); }, opensIn * 1000);
  }
})();
