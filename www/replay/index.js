// cobrowse-replay.js (PREFIX cobrowse-replay.js?v=HASH): @rrweb/replay and
// the player around it, kept out of agent.js; the console loads it when a
// co-browse view first opens (www/agent/cobrowse-view.js).
import { createPlayer } from './player.js';

window.__chatvisorReplay = { createPlayer };
