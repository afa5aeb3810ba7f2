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
