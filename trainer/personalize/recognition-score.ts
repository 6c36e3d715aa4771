// Recognition scoring with the concept graphs: P(yes) for "Is <bo> in this photo?" is the softmax over
// the logits of the first answer token of "Yes, ..." and of "No, ..." (the same comparison the serve
// layer's recognize task makes).

import type { ConceptRowsInput } from "./concept-batch";
import { scoreExamples } from "./concept-batch";
import type { ConceptGraphs } from "./concept-graph";
import type { ConceptModel } from "./concept-model";
import { type EncodedExample, encodeExample } from "./examples";

export interface YesNoIds {
  yes: number;
  no: number;
}

/** The first answer token of "Yes, ..." and "No, ..." in this model's chat format. */
export async function yesNoIds(model: ConceptModel): Promise<YesNoIds> {
  const first = async (answer: string) => {
    const e = await encodeExample(model, {
      kind: "recognition",
      images: [],
      conversation: {
        concepts: [],
        images: 0,
        question: [{ type: "text", text: "Is it there?" }],
        answer: [{ type: "text", text: answer }],
      },
    });
    const t = e.targets[0]!.target;
    if (!("token" in t)) throw new Error("yesNoIds: answer starts with a concept");
    return t.token;
  };
  const ids = { yes: await first("Yes, it is."), no: await first("No, it is not.") };
  if (ids.yes === ids.no) throw new Error("yesNoIds: yes and no start with the same token");
  return ids;
}

/** P(yes) per example (examples are recognition conversations; their own answer is not used). */
export async function recognitionProbabilities(
  model: ConceptModel,
  graphs: ConceptGraphs,
  examples: readonly EncodedExample[],
  concepts: readonly ConceptRowsInput[],
  ids: YesNoIds,
  options: { bucket: number; batchSize: number },
): Promise<number[]> {
  const scores = await scoreExamples(model, graphs, examples, concepts, {
    ...options,
    firstTargetOnly: true,
  });
  return scores.map((s) => {
    const y = s.firstLogits[ids.yes]!;
    const n = s.firstLogits[ids.no]!;
    return 1 / (1 + Math.exp(n - y));
  });
}

export interface RecognitionAccuracy {
  positive: number;
  negative: number;
  /** (positive + negative) / 2, Yo'LLaVA's weighted accuracy. */
  weighted: number;
  /** Mean -log P(correct answer) over the two candidates. */
  loss: number;
  /** The same loss averaged per class, then over the two classes (weighted accuracy's counterpart). */
  balancedLoss: number;
  /**
   * Threshold-free: the chance that a positive gets a higher P(yes) than a negative (ties count half),
   * the area under the ROC curve. A concept can rank its photos right while every P(yes) sits on one side
   * of 0.5; accuracy alone would not show it. NaN without both labels.
   */
  auc: number;
  /** Mean P(yes) over the positives and over the negatives (what the end-to-end test compares). */
  meanPYesPositive: number;
  meanPYesNegative: number;
}

/** Area under the ROC curve by ranks (Mann-Whitney U), ties sharing their mean rank. */
export function rocAuc(scores: readonly number[], positive: readonly boolean[]): number {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let t = i; t <= j; t++) ranks[order[t]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  const rankSum = ranks.reduce((a, r, i) => a + (positive[i] ? r : 0), 0);
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export function recognitionAccuracy(
  pYes: readonly number[],
  labels: readonly ("yes" | "no")[],
): RecognitionAccuracy {
  let pos = 0;
  let posN = 0;
  let neg = 0;
  let negN = 0;
  let lossPos = 0;
  let lossNeg = 0;
  let sumPos = 0;
  let sumNeg = 0;
  pYes.forEach((p, i) => {
    const yes = labels[i] === "yes";
    if (yes) {
      posN++;
      sumPos += p;
      if (p > 0.5) pos++;
      lossPos -= Math.log(Math.max(p, 1e-9));
    } else {
      negN++;
      sumNeg += p;
      if (p <= 0.5) neg++;
      lossNeg -= Math.log(Math.max(1 - p, 1e-9));
    }
  });
  const loss = (lossPos + lossNeg) / Math.max(1, pYes.length);
  const positive = posN ? pos / posN : Number.NaN;
  const negative = negN ? neg / negN : Number.NaN;
  const weighted = posN && negN ? (positive + negative) / 2 : posN ? positive : negative;
  return {
    positive,
    negative,
    weighted,
    loss,
    balancedLoss: posN && negN ? (lossPos / posN + lossNeg / negN) / 2 : loss,
    auc: rocAuc(
      pYes,
      labels.map((l) => l === "yes"),
    ),
    meanPYesPositive: posN ? sumPos / posN : Number.NaN,
    meanPYesNegative: negN ? sumNeg / negN : Number.NaN,
  };
}
