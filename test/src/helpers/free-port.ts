/** A free TCP port on 127.0.0.1 (the bench's helper; one implementation for both). */
export { freePort } from '@checkpoint-cache/bench';
