// The user's photos, checked before any training: enough of them, each decodable, not tiny, no duplicates.

import { decodeImage, ImageDecodeError, type RgbImage } from "../vision/image";
import { imageDigest } from "./concept-model";
import { CONCEPT_DEFAULTS } from "./defaults";
import { ConceptTrainingError } from "./errors";

export type PhotoInput = Uint8Array | RgbImage;

export interface PhotoChecks {
  minPhotos?: number;
  maxPhotos?: number;
  minSide?: number;
}

function isRgb(p: PhotoInput): p is RgbImage {
  return !(p instanceof Uint8Array);
}

export async function checkPhotos(
  photos: readonly PhotoInput[],
  checks: PhotoChecks = {},
): Promise<RgbImage[]> {
  const min = checks.minPhotos ?? CONCEPT_DEFAULTS.minPhotos;
  const max = checks.maxPhotos ?? CONCEPT_DEFAULTS.maxPhotos;
  const minSide = checks.minSide ?? CONCEPT_DEFAULTS.minPhotoSide;
  if (photos.length < Math.max(1, min)) {
    throw new ConceptTrainingError(
      "too_few_photos",
      `${photos.length} photo(s); at least ${Math.max(1, min)} needed`,
    );
  }
  if (photos.length > max) {
    throw new ConceptTrainingError("too_many_photos", `${photos.length} photos; at most ${max}`);
  }
  const images: RgbImage[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < photos.length; i++) {
    const p = photos[i]!;
    let image: RgbImage;
    if (isRgb(p)) {
      if (p.data.length !== p.width * p.height * 3 || p.width === 0 || p.height === 0) {
        throw new ConceptTrainingError("corrupt_image", `photo ${i}: pixel data does not match its size`, i);
      }
      image = p;
    } else {
      try {
        image = await decodeImage(p);
      } catch (e) {
        if (e instanceof ImageDecodeError) {
          throw new ConceptTrainingError("corrupt_image", `photo ${i}: ${e.message} (${e.code})`, i);
        }
        throw e;
      }
    }
    if (image.width < minSide || image.height < minSide) {
      throw new ConceptTrainingError(
        "tiny_image",
        `photo ${i} is ${image.width}x${image.height}; both sides must be at least ${minSide} px`,
        i,
      );
    }
    const digest = imageDigest(image);
    const previous = seen.get(digest);
    if (previous !== undefined) {
      throw new ConceptTrainingError(
        "duplicate_photo",
        `photo ${i} is the same image as photo ${previous}`,
        i,
      );
    }
    seen.set(digest, i);
    images.push(image);
  }
  return images;
}
