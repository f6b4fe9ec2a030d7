// cobrowse.js (PREFIX cobrowse.js?v=HASH): the co-browsing recorder. The
// widget loads it only where the tag says data-cobrowse="1", and only once
// the visitor has allowed co-browsing (or on a new page of a session they
// allowed); it is kept out of widget.js, whose size has a budget.
import { createRecorder } from './recorder.js';

window.__chatvisorRecorder = { createRecorder };
