// hanoi-web: the little JavaScript there is. Pages work without it.
document.addEventListener("submit", function (e) {
  var form = e.target;
  var ask = form.getAttribute("data-confirm");
  if (ask && !window.confirm(ask)) {
    e.preventDefault();
    return;
  }
  // A protected environment's one confirmation field of the page goes with
  // the form saved (unless the form has its own).
  var page = document.getElementById("confirm-env-page");
  if (page && form.method === "post" && !form.elements["confirm_env"]) {
    var f = document.createElement("input");
    f.type = "hidden";
    f.name = "confirm_env";
    f.value = page.value;
    form.appendChild(f);
  }
});
// The rule builder: a condition on `segment` offers the segments' names.
document.addEventListener("input", function (e) {
  var t = e.target;
  if (!t.id || t.id.indexOf("cond-attr-") !== 0) return;
  var v = document.getElementById("cond-values-" + t.id.slice(10));
  if (!v || !document.getElementById("rule-segments")) return;
  if (t.value.trim() === "segment") v.setAttribute("list", "rule-segments");
  else v.removeAttribute("list");
});
