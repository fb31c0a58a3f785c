//! Photos uploaded with an Open311 submission: recognized by their bytes
//! (never by the client's content type), and stripped of metadata before
//! they are stored, so nobody can read a resident's GPS position, camera
//! serial number or name out of them.
//!
//! - JPEG: every APPn segment except APP0 (JFIF) and APP14 (Adobe colour
//!   transform) is dropped, which removes EXIF (GPS, device, time), XMP,
//!   IPTC, ICC profiles (they name devices) and MakerNotes; so are comment
//!   segments. The image data itself is copied byte for byte (lossless).
//! - PNG: only the chunks needed to show the image are kept (`IHDR`,
//!   `PLTE`, `IDAT`, `IEND`, transparency, gamma, chromaticities, sRGB,
//!   background, physical size, significant bits, animation); `eXIf`,
//!   text chunks, timestamps and ICC profiles are dropped.
//! - HEIC/HEIF: decoding HEVC takes a native codec, which this server does
//!   not ship; such uploads are refused with `PHOTO_HEIC_UNSUPPORTED`
//!   asking for JPEG.
//!
//! **Must never:** pass on bytes it could not parse, or trust a declared
//! content type.

use crate::error::Open311Error;

/// A photo ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanPhoto {
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Recognizes and cleans an uploaded photo.
pub fn clean(bytes: &[u8]) -> Result<CleanPhoto, Open311Error> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return strip_jpeg(bytes).map(|data| CleanPhoto {
            content_type: "image/jpeg",
            data,
        });
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return strip_png(bytes).map(|data| CleanPhoto {
            content_type: "image/png",
            data,
        });
    }
    if is_heif(bytes) {
        return Err(Open311Error::PhotoHeic);
    }
    Err(Open311Error::PhotoUnsupported)
}

/// ISO BMFF with a HEIF brand (`ftyp` box at offset 4).
fn is_heif(b: &[u8]) -> bool {
    if b.len() < 12 || &b[4..8] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = size.clamp(12, b.len());
    let brands: Vec<&[u8]> = std::iter::once(&b[8..12])
        .chain(b[16.min(end)..end].chunks(4))
        .collect();
    brands.iter().any(|br| {
        matches!(
            *br,
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"avif"
        )
    })
}

fn bad(msg: &str) -> Open311Error {
    Open311Error::PhotoInvalid(msg.to_owned())
}

fn strip_jpeg(b: &[u8]) -> Result<Vec<u8>, Open311Error> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut i = 2;
    loop {
        // Fill bytes (0xFF runs) may precede a marker.
        while i < b.len() && b[i] == 0xFF && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if i + 1 >= b.len() || b[i] != 0xFF {
            return Err(bad("the JPEG ends before its image data"));
        }
        let marker = b[i + 1];
        match marker {
            0xD9 => return Err(bad("the JPEG has no image data")),
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&b[i..i + 2]);
                i += 2;
                continue;
            }
            _ => {}
        }
        let len = match (b.get(i + 2), b.get(i + 3)) {
            (Some(&h), Some(&l)) => usize::from(u16::from_be_bytes([h, l])),
            _ => return Err(bad("a JPEG segment is cut short")),
        };
        if len < 2 || i + 2 + len > b.len() {
            return Err(bad("a JPEG segment is longer than the file"));
        }
        let segment = &b[i..i + 2 + len];
        if marker == 0xDA {
            // Start of scan: the entropy-coded data (and any later scans)
            // follow; copy the rest verbatim.
            out.extend_from_slice(&b[i..]);
            if !b.ends_with(&[0xFF, 0xD9]) {
                // Tolerate trailing garbage only if an EOI exists somewhere after SOS.
                if !b[i..].windows(2).any(|w| w == [0xFF, 0xD9]) {
                    return Err(bad("the JPEG's image data is cut short"));
                }
            }
            return Ok(out);
        }
        let keep = match marker {
            0xE0 | 0xEE => true,         // JFIF, Adobe
            0xE1..=0xED | 0xEF => false, // EXIF, XMP, ICC, IPTC, MakerNotes…
            0xFE => false,               // comment
            _ => true,                   // tables, frame headers
        };
        if keep {
            out.extend_from_slice(segment);
        }
        i += 2 + len;
    }
}

const PNG_KEEP: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"bKGD", b"pHYs", b"sBIT", b"acTL",
    b"fcTL", b"fdAT",
];

fn strip_png(b: &[u8]) -> Result<Vec<u8>, Open311Error> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut i = PNG_SIGNATURE.len();
    let mut saw_header = false;
    loop {
        if i + 8 > b.len() {
            return Err(bad("the PNG ends before its IEND chunk"));
        }
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let kind = [b[i + 4], b[i + 5], b[i + 6], b[i + 7]];
        let end = i
            .checked_add(12)
            .and_then(|x| x.checked_add(len))
            .filter(|&e| e <= b.len())
            .ok_or_else(|| bad("a PNG chunk is longer than the file"))?;
        if !saw_header && &kind != b"IHDR" {
            return Err(bad("the PNG does not start with IHDR"));
        }
        saw_header = true;
        if PNG_KEEP.iter().any(|k| **k == kind) {
            out.extend_from_slice(&b[i..end]);
        } else if kind[0].is_ascii_uppercase() {
            // An unknown critical chunk: the image may not show without it.
            return Err(bad("the PNG has a critical chunk this server does not know"));
        }
        i = end;
        if &kind == b"IEND" {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_with_exif() -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        // APP0 JFIF
        j.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        // APP1 EXIF with a GPS marker
        let exif = b"Exif\0\0GPSLatitude=39.78;Model=PhoneX";
        let len = (exif.len() + 2) as u16;
        j.extend_from_slice(&[0xFF, 0xE1]);
        j.extend_from_slice(&len.to_be_bytes());
        j.extend_from_slice(exif);
        // COM
        j.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x07]);
        j.extend_from_slice(b"hello");
        // DQT (kept)
        j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x04, 0x00, 0x01]);
        // SOS + data + EOI
        j.extend_from_slice(&[
            0xFF, 0xDA, 0x00, 0x04, 0x01, 0x00, 0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9,
        ]);
        j
    }

    #[test]
    fn jpeg_loses_exif_and_comments_but_keeps_the_image() {
        let c = clean(&jpeg_with_exif()).unwrap();
        assert_eq!(c.content_type, "image/jpeg");
        let s = String::from_utf8_lossy(&c.data);
        assert!(
            !s.contains("GPS") && !s.contains("PhoneX") && !s.contains("hello"),
            "{s}"
        );
        assert!(s.contains("JFIF"));
        assert!(c.data.ends_with(&[0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]));
        assert!(c.data.windows(2).any(|w| w == [0xFF, 0xDB]));
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let j = jpeg_with_exif();
        assert!(matches!(clean(&j[..20]), Err(Open311Error::PhotoInvalid(_))));
        assert!(matches!(clean(b"GIF89a...."), Err(Open311Error::PhotoUnsupported)));
        let mut heic = vec![0, 0, 0, 24];
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        assert!(matches!(clean(&heic), Err(Open311Error::PhotoHeic)));
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&[0, 0, 0, 0]);
        c
    }

    #[test]
    fn png_keeps_only_what_shows_the_image() {
        let mut p = PNG_SIGNATURE.to_vec();
        p.extend(chunk(b"IHDR", &[0; 13]));
        p.extend(chunk(b"eXIf", b"GPS here"));
        p.extend(chunk(b"tEXt", b"Author\0Jane Doe"));
        p.extend(chunk(b"IDAT", b"pixels"));
        p.extend(chunk(b"IEND", b""));
        let c = clean(&p).unwrap();
        let s = String::from_utf8_lossy(&c.data);
        assert!(!s.contains("GPS") && !s.contains("Jane"), "{s}");
        assert!(s.contains("pixels") && s.contains("IEND"));
        p.truncate(p.len() - 5);
        assert!(matches!(clean(&p), Err(Open311Error::PhotoInvalid(_))));
    }
}
