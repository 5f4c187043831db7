// Video tiles: one per remote participant (the grid grows with the room) and one per shared screen.
// The SDK puts its own <video> element inside a tile's .display div.

let seq = 0;

/** <figure class="tile"><div class="display"></div><p class="placeholder"></p><figcaption class="name"></figcaption></figure> */
export function makeTile(cls, label, placeholder) {
  const fig = document.createElement('figure');
  fig.className = 'tile ' + cls;
  fig.setAttribute('role', 'group');
  const display = document.createElement('div');
  display.className = 'display';
  display.id = 'display-' + ++seq;
  const ph = document.createElement('p');
  ph.className = 'placeholder';
  ph.textContent = placeholder;
  const cap = document.createElement('figcaption');
  cap.className = 'name';
  fig.append(display, ph, cap);
  setLabel(fig, label);
  return fig;
}

export function setLabel(fig, label) {
  fig.querySelector('.name').textContent = label;
  fig.setAttribute('aria-label', label);
}

/** Mark a tile as showing video (hides the placeholder) or not (empties the display). */
export function setVideo(fig, on) {
  fig.classList.toggle('has-video', on);
  if (!on) fig.querySelector('.display').replaceChildren();
}

/**
 * Participant tiles. container: the grid. opts.fixed: an existing tile element used for the
 * (single) remote participant instead of creating tiles (two-way chat). opts.onChange(count).
 */
export function Tiles(container, opts = {}) {
  const byLogin = new Map();

  function ensure(login) {
    let fig = byLogin.get(login);
    if (fig) return fig;
    if (opts.fixed) {
      if (byLogin.size > 0) return null; // two-way chat: one remote participant only
      fig = opts.fixed;
      setVideo(fig, false);
    } else {
      fig = makeTile('remote', login, 'No video yet');
      container.appendChild(fig);
    }
    fig.dataset.login = login;
    setLabel(fig, login);
    byLogin.set(login, fig);
    changed();
    return fig;
  }

  function remove(login) {
    const fig = byLogin.get(login);
    if (!fig) return;
    byLogin.delete(login);
    setVideo(fig, false);
    if (opts.fixed) {
      delete fig.dataset.login;
      setLabel(fig, opts.fixedLabel || 'Waiting for someone to join');
    } else {
      fig.remove();
    }
    changed();
  }

  function clear() {
    for (const login of Array.from(byLogin.keys())) remove(login);
  }

  function changed() {
    if (opts.onChange) opts.onChange(byLogin.size);
  }

  return {
    ensure,
    remove,
    clear,
    get: (login) => byLogin.get(login) || null,
    count: () => byLogin.size,
  };
}

/** Shared-screen tiles, keyed by stream name. */
export function ScreenTiles(container) {
  const byStream = new Map();
  function add(streamName, login) {
    let fig = byStream.get(streamName);
    if (!fig) {
      fig = makeTile('screen', login + "'s screen", 'Connecting to the shared screen…');
      fig.dataset.stream = streamName;
      fig.dataset.login = login;
      container.appendChild(fig);
      byStream.set(streamName, fig);
    }
    container.hidden = false;
    return fig;
  }
  function remove(streamName) {
    const fig = byStream.get(streamName);
    if (!fig) return;
    byStream.delete(streamName);
    setVideo(fig, false);
    fig.remove();
    container.hidden = byStream.size === 0;
  }
  function clear() {
    for (const s of Array.from(byStream.keys())) remove(s);
  }
  container.hidden = true;
  return { add, remove, clear, count: () => byStream.size };
}
