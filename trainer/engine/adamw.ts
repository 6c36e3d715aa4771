// AdamW with decoupled weight decay, following torch.optim.AdamW (amsgrad=False, maximize=False) step by step:
//
//   step += 1
//   p *= 1 - lr * weight_decay
//   m  = lerp(m, g, 1 - beta1)
//   v  = v * beta2 + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
//
// Each elementwise operation is rounded to float32 (Math.fround) in the order of PyTorch's single-tensor CPU
// kernels, including their fused multiply-adds (lerp, addcmul), and the scalar factors are computed in float64
// as Python does. What remains is PyTorch's vectorised float32 sqrt, which is not always correctly rounded, so
// results agree with PyTorch to about one float32 ulp per step.

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export interface AdamWHyperparameters {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** PyTorch's defaults. */
export const ADAMW_DEFAULTS: Readonly<AdamWHyperparameters> = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 1e-2,
};

/** Optimizer state: number of steps taken and the first and second moments, one array per parameter. */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** JSON form of the state. float32 values survive a JSON round trip exactly. */
export interface AdamWStateJson {
  step: number;
  m: number[][];
  v: number[][];
}

export class AdamWError extends Error {
  override readonly name = "AdamWError";
  constructor(
    readonly code: "BAD_OPTIONS" | "SHAPE_MISMATCH",
    message: string,
  ) {
    super(message);
  }
}

const f = Math.fround;

export class AdamW {
  readonly hyper: AdamWHyperparameters;
  private stepCount = 0;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];

  /** `params` are updated in place by `step`. */
  constructor(
    readonly params: Float32Array[],
    options: AdamWOptions = {},
  ) {
    this.hyper = {
      lr: options.lr ?? ADAMW_DEFAULTS.lr,
      betas: options.betas ?? [...ADAMW_DEFAULTS.betas],
      eps: options.eps ?? ADAMW_DEFAULTS.eps,
      weightDecay: options.weightDecay ?? ADAMW_DEFAULTS.weightDecay,
    };
    const { lr, betas, eps, weightDecay } = this.hyper;
    const [b1, b2] = betas;
    if (!(lr >= 0)) throw new AdamWError("BAD_OPTIONS", `invalid learning rate ${lr}`);
    if (!(eps >= 0)) throw new AdamWError("BAD_OPTIONS", `invalid eps ${eps}`);
    if (!(b1 >= 0 && b1 < 1)) throw new AdamWError("BAD_OPTIONS", `invalid beta1 ${b1}`);
    if (!(b2 >= 0 && b2 < 1)) throw new AdamWError("BAD_OPTIONS", `invalid beta2 ${b2}`);
    if (!(weightDecay >= 0)) throw new AdamWError("BAD_OPTIONS", `invalid weight decay ${weightDecay}`);
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /** Learning rate, settable between steps (schedules). */
  get lr(): number {
    return this.hyper.lr;
  }
  set lr(value: number) {
    if (!(value >= 0)) throw new AdamWError("BAD_OPTIONS", `invalid learning rate ${value}`);
    this.hyper.lr = value;
  }

  get steps(): number {
    return this.stepCount;
  }

  /** One update of every parameter from its gradient (same order and lengths as `params`). */
  step(grads: readonly Float32Array[]): void {
    if (grads.length !== this.params.length) {
      throw new AdamWError(
        "SHAPE_MISMATCH",
        `${grads.length} gradients for ${this.params.length} parameters`,
      );
    }
    this.stepCount += 1;
    const { lr, eps, weightDecay } = this.hyper;
    const [beta1, beta2] = this.hyper.betas;
    const decay = f(1 - lr * weightDecay);
    const w1 = f(1 - beta1);
    const b2 = f(beta2);
    const w2 = f(1 - beta2);
    const stepSize = f(lr / (1 - beta1 ** this.stepCount));
    const bc2Sqrt = f(Math.sqrt(1 - beta2 ** this.stepCount));
    const epsF = f(eps);
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      if (g.length !== p.length) {
        throw new AdamWError(
          "SHAPE_MISMATCH",
          `gradient ${k} has ${g.length} elements, parameter ${p.length}`,
        );
      }
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        const pi = weightDecay !== 0 ? f(p[i]! * decay) : p[i]!;
        const mi = m[i]!;
        // torch.lerp: weight < 0.5 ? self + w * (end - self) : end - (end - self) * (1 - w), as one FMA.
        // A product of two float32 values is exact in float64, so `a + b * c` then fround is that FMA.
        const mNew = w1 < 0.5 ? f(mi + w1 * f(gi - mi)) : f(gi - f(gi - mi) * f(1 - w1));
        // torch.addcmul: self + (value * t1) * t2, as one FMA.
        const vNew = f(f(v[i]! * b2) + f(w2 * gi) * gi);
        const denom = f(f(f(Math.sqrt(vNew)) / bc2Sqrt) + epsF);
        m[i] = mNew;
        v[i] = vNew;
        // torch.addcdiv: self + (value * t1) / t2.
        p[i] = f(pi - f(f(stepSize * mNew) / denom));
      }
    }
  }

  /** A copy of the state. */
  state(): AdamWState {
    return { step: this.stepCount, m: this.m.map((a) => a.slice()), v: this.v.map((a) => a.slice()) };
  }

  loadState(state: AdamWState): void {
    if (state.m.length !== this.params.length || state.v.length !== this.params.length) {
      throw new AdamWError("SHAPE_MISMATCH", "state has a different number of parameters");
    }
    if (!Number.isSafeInteger(state.step) || state.step < 0) {
      throw new AdamWError("BAD_OPTIONS", `invalid step ${state.step}`);
    }
    for (let k = 0; k < this.params.length; k++) {
      const n = this.params[k]!.length;
      if (state.m[k]!.length !== n || state.v[k]!.length !== n) {
        throw new AdamWError("SHAPE_MISMATCH", `state for parameter ${k} does not have ${n} elements`);
      }
      this.m[k]!.set(state.m[k]!);
      this.v[k]!.set(state.v[k]!);
    }
    this.stepCount = state.step;
  }
}

export function adamWStateToJson(state: AdamWState): AdamWStateJson {
  return { step: state.step, m: state.m.map((a) => Array.from(a)), v: state.v.map((a) => Array.from(a)) };
}

export function adamWStateFromJson(json: AdamWStateJson): AdamWState {
  return {
    step: json.step,
    m: json.m.map((a) => Float32Array.from(a)),
    v: json.v.map((a) => Float32Array.from(a)),
  };
}

/**
 * Scales gradients in place so that their global L2 norm is at most `maxNorm`, as
 * torch.nn.utils.clip_grad_norm_ does (coefficient maxNorm / (norm + 1e-6), capped at 1).
 * Returns the global norm before clipping.
 */
export function clipGradNorm(grads: readonly Float32Array[], maxNorm: number): number {
  // As torch: each tensor's norm (accumulated in float64 on the CPU, rounded to float32), then the norm of those.
  let sumSq = 0;
  for (const g of grads) {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
    const n = f(Math.sqrt(s));
    sumSq += n * n;
  }
  const total = f(Math.sqrt(sumSq));
  const coef = f(f(maxNorm) / f(total + f(1e-6)));
  if (coef < 1) {
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = f(g[i]! * coef);
  }
  return total;
}
