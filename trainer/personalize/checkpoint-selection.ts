// Checkpoint selection and early stopping on the held-out split: the best epoch by weighted recognition
// accuracy (ties broken by the held-out loss) is kept; training stops after `patience` epochs without a
// better one.

export interface HeldOutScore {
  weighted: number;
  loss: number;
}

export type SelectionVerdict = "improved" | "continue" | "stop";

export class CheckpointSelector<T> {
  private best?: { score: HeldOutScore; epoch: number; state: T };
  private sinceBest = 0;

  constructor(readonly patience: number) {}

  /** Records an epoch; `snapshot` is called only when the epoch is the best so far. */
  update(epoch: number, score: HeldOutScore, snapshot: () => T): SelectionVerdict {
    const b = this.best?.score;
    const better =
      !b || score.weighted > b.weighted || (score.weighted === b.weighted && score.loss < b.loss);
    if (better) {
      this.best = { score, epoch, state: snapshot() };
      this.sinceBest = 0;
      return "improved";
    }
    this.sinceBest++;
    return this.sinceBest >= this.patience ? "stop" : "continue";
  }

  get bestEpoch(): number | undefined {
    return this.best?.epoch;
  }

  get bestState(): T | undefined {
    return this.best?.state;
  }
}
