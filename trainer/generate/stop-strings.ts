// Stop strings over a streamed decode: finds the first stop string in the text so far and holds back the
// tail that could still become one (or an incomplete UTF-8 character), so streamed deltas never show
// text that the final answer drops.

export class StopStringMatcher {
  private emitted = 0;
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /**
   * Takes the full text decoded so far; returns the new text safe to stream and, when a stop string
   * occurs, the final text (cut before the stop string).
   */
  update(text: string, final = false): { delta: string; stoppedAt?: number } {
    let cut = -1;
    for (const stop of this.stops) {
      if (stop === "") continue;
      // Only the part after what was already checked can hold a new occurrence.
      const from = Math.max(0, this.emitted - stop.length + 1);
      const at = text.indexOf(stop, from);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      const delta = text.slice(this.emitted, Math.max(this.emitted, cut));
      this.emitted = Math.max(this.emitted, cut);
      return { delta, stoppedAt: cut };
    }
    let safe = text.length;
    if (!final) {
      // A trailing U+FFFD is usually half a multi-byte character that the next token completes.
      while (safe > this.emitted && text.charCodeAt(safe - 1) === 0xfffd) safe--;
      for (let k = Math.min(this.longest - 1, safe - this.emitted); k > 0; k--) {
        const tail = text.slice(safe - k, safe);
        if (this.stops.some((s) => s.startsWith(tail))) {
          safe -= k;
          break;
        }
      }
    }
    const delta = text.slice(this.emitted, Math.max(this.emitted, safe));
    this.emitted = Math.max(this.emitted, safe);
    return { delta };
  }
}
