// Progressive: a form with data-confirm asks first. Without JavaScript the form simply submits.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
