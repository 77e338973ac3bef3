// Reports go out one at a time: a call while one is on its way is folded into one more right after it (which
// carries everything that came meanwhile), and every caller waits for the run that covers it.
export function folded(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await run();
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}
