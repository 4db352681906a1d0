/* EnhancedSSEClient as an ES module (served at /sse-client.mjs):
 *   import EnhancedSSEClient from '/sse-client.mjs';
 * The class lives in sse-client.js, which this imports (it also defines the
 * global, as the classic script does). */
import './sse-client.js';

const EnhancedSSEClient = globalThis.EnhancedSSEClient;
export { EnhancedSSEClient };
export default EnhancedSSEClient;
