/* Demo stand-in for {{ vendor_name }}'s script: proves it ran, and sets nothing. */
(function () {
  var list = document.getElementById("tags-that-ran");
  if (!list) return;
  var item = document.createElement("li");
  item.dataset.vendor = {{ vendor_id | tojson }};
  item.textContent = {{ vendor_name | tojson }} + " tag ran";
  list.appendChild(item);
})();
