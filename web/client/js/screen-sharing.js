// Video chat + screen sharing: the two-way chat plus a Share button (second stream "screenShare").
import { startApp } from './app.js';
import { ScreenShare } from './ui/screen-share.js';

const session = startApp({ maxPeople: 2, duo: true });
if (session) ScreenShare(session, document.getElementById('shareBtn'), document.getElementById('sharePreview'));
