// Two-way video chat: one large remote video, your own small video in a corner.
import { startApp } from './app.js';

startApp({ maxPeople: 2, duo: true });
