// Reply templates: a "use this text" button beside each one fills the reply box.
// Without JavaScript the templates stay a list to copy from.
(function () {
  "use strict";
  var box = document.getElementById("templates");
  var reply = document.getElementById("reply-text");
  if (!box || !reply) { return; }
  var label = box.getAttribute("data-use-label") || "Use";
  box.querySelectorAll(".template-text").forEach(function (template) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "use-template";
    button.textContent = label;
    button.addEventListener("click", function () {
      reply.value = template.textContent;
      reply.focus();
      var gap = reply.value.indexOf("…");
      if (gap >= 0) { reply.setSelectionRange(gap, gap + 1); }
    });
    template.parentNode.appendChild(button);
  });
}());
