// Small progressive enhancements; every page also works without JavaScript.
document.documentElement.classList.add("js");

// Ask before destructive form submissions (forms carrying data-confirm).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Suggestions for inputs bound to a <datalist data-source="url">: fetched as the user types.
document.addEventListener("input", (event) => {
  const input = event.target;
  if (!input.list || !input.list.dataset.source) return;
  clearTimeout(input._suggestTimer);
  input._suggestTimer = setTimeout(async () => {
    const url = new URL(input.list.dataset.source, window.location.origin);
    url.searchParams.set("q", input.value);
    const response = await fetch(url, { headers: { "HX-Request": "true" } });
    if (response.ok) input.list.innerHTML = await response.text();
  }, 200);
});

// Copy buttons: <button data-copy="#element-id">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  await navigator.clipboard.writeText(source.value || source.textContent.trim());
  const label = button.textContent;
  let status = button.parentElement.querySelector(".copy-status");
  if (!status) {
    status = document.createElement("span");
    status.className = "copy-status visually-hidden";
    status.setAttribute("role", "status");
    button.after(status);
  }
  button.textContent = "Copied";
  if (status) status.textContent = "Copied to the clipboard";
  setTimeout(() => { button.textContent = label; if (status) status.textContent = ""; }, 1500);
});

// SAML HTTP-POST binding pages: send the form on load (the button stays for browsers without JavaScript).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-autosubmit]");
  if (form) form.submit();
});
