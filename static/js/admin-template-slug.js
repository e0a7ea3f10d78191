// The template admin's slug follows the title (ASCII, pinyin for Chinese) until the operator edits it.
// The slug input carries data-slug-url (the admin's slug_preview_view) and, when editing, data-pk.
(function () {
  "use strict";
  const title = document.getElementById("id_title");
  const slug = document.getElementById("id_slug");
  if (!title || !slug || !slug.dataset.slugUrl) return;
  let edited = slug.value !== "";
  let pending = null;
  slug.addEventListener("input", () => { edited = slug.value !== ""; });
  title.addEventListener("input", () => {
    if (edited) return;
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const query = new URLSearchParams({ title: title.value });
      if (slug.dataset.pk) query.set("pk", slug.dataset.pk);
      try {
        const response = await fetch(slug.dataset.slugUrl + "?" + query, { credentials: "same-origin" });
        if (response.ok && !edited) slug.value = (await response.json()).slug;
      } catch (error) {
        // The operator can still type a slug; nothing else depends on this.
      }
    }, 250);
  });
})();
