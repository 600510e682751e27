// The real service in its own process, configured from the environment like `npm start`.
import { loadConfig } from '../src/config.js';
import { startService, type Role } from '../src/runtime.js';
import { onStopMessage } from './child.js';

const roles = (process.argv[2] ?? 'api,worker').split(',') as Role[];
const service = await startService(loadConfig(), roles);
onStopMessage(() => service.stop());
process.send!({ type: 'ready', url: service.url });
