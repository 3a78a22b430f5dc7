// Copy buttons for feed addresses. Without JavaScript the address stays selectable in its
// read-only field, so nothing depends on this file.
(function () {
  "use strict";
  var status = document.getElementById("copy-status");
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      navigator.clipboard.writeText(field.value).then(function () {
        if (status) { status.textContent = button.getAttribute("data-copied"); }
      }, function () {
        field.select();
      });
    });
  });
})();
