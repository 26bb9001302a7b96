// funnelbridge dashboard: small progressive enhancements (the pages work without JavaScript).
(function () {
  "use strict";
  // Live SLA countdowns: <span data-deadline="ISO">, counted on the server's clock (<body data-now="ISO">).
  var skew = 0;
  function tick() {
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = (Date.parse(el.dataset.deadline) - (Date.now() + skew)) / 1000;
      var late = left < 0;
      left = Math.abs(left);
      var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600), m = Math.floor((left % 3600) / 60);
      var text = (d ? d + "d " : "") + h + "h " + String(m).padStart(2, "0") + "m";
      el.textContent = late ? text + " overdue" : text + " left";
      el.classList.toggle("late", late);
    });
  }
  // Pipeline board: drag a deal onto a column to submit its move form.
  function board() {
    var dragged = null;
    document.querySelectorAll(".deal[draggable=true]").forEach(function (card) {
      card.addEventListener("dragstart", function () { dragged = card; });
    });
    document.querySelectorAll(".column[data-stage]").forEach(function (col) {
      col.addEventListener("dragover", function (e) { e.preventDefault(); col.classList.add("drop"); });
      col.addEventListener("dragleave", function () { col.classList.remove("drop"); });
      col.addEventListener("drop", function (e) {
        e.preventDefault(); col.classList.remove("drop");
        if (!dragged) return;
        var form = dragged.querySelector("form.move");
        if (!form) return;
        form.querySelector("[name=stage]").value = col.dataset.stage;
        form.submit();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var now = document.body.dataset.now;
    if (now) skew = Date.parse(now) - Date.now();
    tick(); setInterval(tick, 30000); board();
  });
})();
