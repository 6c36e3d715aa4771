// Checkpoint selection and early stopping on the held-out split: the best epoch by the class-balanced
// held-out loss (ties broken by weighted accuracy) is kept; training stops after `patience` epochs without
// a better one. The held-out split is small (2 photos of 10 and 16 negatives by default): accuracy moves
// in steps of a quarter and ties for many epochs, while the loss keeps telling epochs apart.

export interface HeldOutScore {
  weighted: number;
  /** Mean -log P(correct) per class, averaged over the two classes. */
  balancedLoss: number;
}

/** Whether `score` beats `than`: a lower balanced loss, or the same loss and a higher weighted accuracy. */
export function isBetterHeldOut(score: HeldOutScore, than: HeldOutScore | undefined): boolean {
  return (
    !than ||
    score.balancedLoss < than.balancedLoss ||
    (score.balancedLoss === than.balancedLoss && score.weighted > than.weighted)
  );
}

export type SelectionVerdict = "improved" | "continue" | "stop";

export class CheckpointSelector<T> {
  private best?: { score: HeldOutScore; epoch: number; state: T };
  private sinceBest = 0;

  constructor(readonly patience: number) {}

  /** Records an epoch; `snapshot` is called only when the epoch is the best so far. */
  update(epoch: number, score: HeldOutScore, snapshot: () => T): SelectionVerdict {
    if (isBetterHeldOut(score, this.best?.score)) {
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

  get bestScore(): HeldOutScore | undefined {
    return this.best?.score;
  }

  get bestState(): T | undefined {
    return this.best?.state;
  }
}
