// The worker's workflow bundle entry point: every workflow type the task queue serves.
export { bookingWorkflow } from './booking';
