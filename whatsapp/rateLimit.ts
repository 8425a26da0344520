/** Waits until an account may send one more message to `recipient`. */
export interface SendLimiter {
  take(recipient: string): Promise<void>;
}
