// Progressive: a form with data-confirm asks first. Without JavaScript the form simply submits.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Keyboard: "/" puts the cursor in the search box (unless already typing somewhere); on a list with
// a single result, Enter (outside a form field) opens it.
document.addEventListener("keydown", function (event) {
  var target = event.target;
  var typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON|A)$/.test(target.tagName));
  if (typing || event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  if (event.key === "/") {
    var box = document.querySelector("form[role=search] input[type=search]");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  } else if (event.key === "Enter") {
    var rows = document.querySelectorAll("#results tbody tr");
    if (rows.length === 1) {
      var link = rows[0].querySelector("a[href*='/devices/']");
      if (link) {
        event.preventDefault();
        window.location.href = link.href;
      }
    }
  }
});
