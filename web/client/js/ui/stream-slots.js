// Where the session's remote streams are shown: a camera stream in its participant's tile, a
// shared screen in a screen tile. Implements RoomSession's `slots` interface.
import { setVideo } from './tiles.js';
import { offerSound } from './sound-prompt.js';

/** tiles: Tiles(), screens: ScreenTiles(). */
export function StreamSlots(tiles, screens) {
  function stream(login, name, screen) {
    const tile = screen ? screens.add(name, login) : tiles.ensure(login);
    if (!tile) return null; // two-way chat: a third person's streams are not shown
    if (!screen) setVideo(tile, false);
    tile.dataset.stream = name;
    return {
      display: tile.querySelector('.display'),
      playing: () => tile.classList.add('has-video'),
      gone: () => {
        if (screen) screens.remove(name);
        else if (tile.dataset.stream === name) setVideo(tile, false);
      },
      soundBlocked: (unmute) => offerSound(tile, login, unmute),
    };
  }
  return { stream };
}
