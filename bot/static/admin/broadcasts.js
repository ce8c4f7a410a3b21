// Notices: the live recipient count while the target changes, and the photo size check.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  if (!form) { return; }
  var output = document.getElementById("recipients");
  var target = document.getElementById("target");
  var TARGET_FIELDS = ["area", "group", "province", "status", "locale"];
  var timer = null;
  var latest = 0;

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (TARGET_FIELDS.indexOf(name) >= 0 && typeof value === "string") { params.append(name, value); }
    });
    return params.toString();
  }

  function refresh() {
    var ticket = ++latest;
    output.setAttribute("aria-busy", "true");
    fetch(output.dataset.url + "?" + query(), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (ticket !== latest) { return; }
        output.textContent = data.error || data.text;
        output.classList.toggle("bad", Boolean(data.error));
        output.dataset.count = data.count === null || data.count === undefined ? "" : String(data.count);
      })
      .catch(function () { /* keep the last figure; the button still counts */ })
      .then(function () { if (ticket === latest) { output.removeAttribute("aria-busy"); } });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 200);
  }

  target.addEventListener("change", later);
  refresh();

  var photo = form.querySelector("input[name=photo]");
  if (photo) {
    photo.addEventListener("change", function () {
      var file = photo.files && photo.files[0];
      var limit = Number(photo.dataset.maxBytes || 0);
      photo.setCustomValidity(file && limit && file.size > limit ? photo.dataset.tooLarge : "");
      photo.reportValidity();
    });
  }
}());
