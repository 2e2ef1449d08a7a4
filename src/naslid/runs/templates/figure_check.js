{#- counts the figures that decoded (a broken image has naturalWidth 0) into the footer, for readers and tests -#}
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (image) { return image.complete && image.naturalWidth > 0; }).length;
  var check = document.getElementById("figure-check");
  check.setAttribute("data-decoded", String(decoded));
  check.setAttribute("data-images", String(images.length));
  check.textContent = decoded + " of " + images.length + " figures decoded";
});
