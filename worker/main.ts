/** The worker process for production: external Postgres and Temporal, no HTTP. */
import { runRole } from '../runtime/main';

runRole('worker');
