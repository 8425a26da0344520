/** The API process for production: external Postgres and Temporal, no worker. */
import { runRole } from '../runtime/main';

runRole('api');
