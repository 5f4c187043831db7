// "Turn on sound from <name>": shown on a tile when the browser blocked a remote stream's audio
// until the person interacts with the page (autoplay policy).

/** Add the button to `tile` (once); unmute() is called on click and the button goes away. */
export function offerSound(tile, login, unmute) {
  if (tile.querySelector('.unmute')) return;
  const btn = document.createElement('button');
  btn.type = 'button';
  btn.className = 'unmute';
  btn.textContent = 'Turn on sound from ' + login;
  btn.addEventListener('click', () => {
    try {
      unmute();
    } catch (_) { /* stream already gone */ }
    btn.remove();
  });
  tile.appendChild(btn);
}
