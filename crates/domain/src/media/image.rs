//! What an upload really is: its type read from its bytes (PNG, JPEG or WebP — a declared type or a
//! file name is never trusted), its dimensions (bounded), and the same image without the metadata
//! that can say where and when it was taken (EXIF with its GPS block, XMP, text chunks, comments).

use bytes::Bytes;
use img_parts::ImageEXIF;
use img_parts::jpeg::Jpeg;
use img_parts::png::Png;
use img_parts::webp::WebP;

/// The largest width or height accepted.
pub const MAX_SIDE: u32 = 8192;

/// An image type we store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    WebP,
}

impl Kind {
    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::WebP => "image/webp",
        }
    }

    /// Its file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpeg => "jpg",
            Kind::WebP => "webp",
        }
    }
}

/// Why bytes are not an image we store.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the content is not a PNG, JPEG or WebP image")]
    NotAnImage,
    #[error("the image is {0}×{1} pixels; each side is at most {MAX_SIDE}")]
    TooLarge(u32, u32),
    #[error("the {0} image is damaged: {1}")]
    Damaged(&'static str, String),
}

/// A checked image, metadata removed.
#[derive(Clone, Debug)]
pub struct Checked {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    /// The stored bytes.
    pub bytes: Bytes,
}

/// Reads the type from the bytes, bounds the dimensions and strips location-bearing metadata.
pub fn check(raw: Bytes) -> Result<Checked, Refused> {
    let kind = match imagesize::image_type(&raw) {
        Ok(imagesize::ImageType::Png) => Kind::Png,
        Ok(imagesize::ImageType::Jpeg) => Kind::Jpeg,
        Ok(imagesize::ImageType::Webp) => Kind::WebP,
        _ => return Err(Refused::NotAnImage),
    };
    let size = imagesize::blob_size(&raw)
        .map_err(|e| Refused::Damaged(kind.content_type(), e.to_string()))?;
    let (width, height) = (size.width as u32, size.height as u32);
    if width == 0 || height == 0 {
        return Err(Refused::Damaged(kind.content_type(), "no pixels".into()));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Refused::TooLarge(width, height));
    }
    let damaged = |e: img_parts::Error| Refused::Damaged(kind.content_type(), e.to_string());
    let bytes = match kind {
        Kind::Jpeg => {
            let mut jpeg = Jpeg::from_bytes(raw).map_err(damaged)?;
            jpeg.set_exif(None);
            // APP1 (EXIF, XMP), APP3–APP13, APP15 and comments go; APP0 (JFIF), APP2 (ICC colour
            // profile) and APP14 (Adobe colour transform) stay: the image needs them.
            jpeg.segments_mut().retain(|s| {
                let m = s.marker();
                let app = (0xE0..=0xEF).contains(&m);
                !(m == 0xFE || (app && !matches!(m, 0xE0 | 0xE2 | 0xEE)))
            });
            jpeg.encoder().bytes()
        }
        Kind::Png => {
            let mut png = Png::from_bytes(raw).map_err(damaged)?;
            png.set_exif(None);
            for chunk in [*b"eXIf", *b"tEXt", *b"iTXt", *b"zTXt", *b"tIME"] {
                png.remove_chunks_by_type(chunk);
            }
            png.encoder().bytes()
        }
        Kind::WebP => {
            let mut webp = WebP::from_bytes(raw).map_err(damaged)?;
            webp.remove_chunks_by_id(*b"XMP ");
            // Also recomputes the VP8X flags for what is left.
            webp.set_exif(None);
            webp.encoder().bytes()
        }
    };
    Ok(Checked {
        kind,
        width,
        height,
        bytes,
    })
}
