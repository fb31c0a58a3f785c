//! Distances on the Earth and the coarse location of address-sensitive
//! requests.
//!
//! A request of an address-sensitive service (a home address, say) is
//! indexed at the centre of a grid cell of [`COARSE_CELL_DEG`] degrees
//! rather than at its exact point, for everyone: radius, bounding-box and
//! distance queries can then never narrow it down further than the cell,
//! whoever asks. Viewers allowed to see its private fields still get the
//! exact coordinates in the hit.
//!
//! **Must never:** do I/O.

use townhall_domain::intake::BoundingBox;

/// Mean Earth radius in metres (IUGG).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Size of the grid cells address-sensitive requests are snapped to
/// (0.005° ≈ 550 m north–south).
pub const COARSE_CELL_DEG: f64 = 0.005;

/// Great-circle distance in metres (haversine).
pub fn distance_m(lat1: f64, long1: f64, lat2: f64, long2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (long2 - long1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// The smallest latitude/longitude box holding every point within
/// `radius_m` of the centre (clamped to valid coordinates; a circle that
/// reaches a pole or crosses the antimeridian gets the full longitude range).
pub fn bbox_around(lat: f64, long: f64, radius_m: f64) -> BoundingBox {
    let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
    let min_lat = (lat - dlat).max(-90.0);
    let max_lat = (lat + dlat).min(90.0);
    let widest = lat.abs() + dlat;
    let (min_long, max_long) = if widest >= 89.0 {
        (-180.0, 180.0)
    } else {
        let dlong = (radius_m / (EARTH_RADIUS_M * widest.to_radians().cos())).to_degrees();
        if long - dlong < -180.0 || long + dlong > 180.0 {
            (-180.0, 180.0)
        } else {
            (long - dlong, long + dlong)
        }
    };
    BoundingBox {
        min_lat,
        min_long,
        max_lat,
        max_long,
    }
}

/// The centre of the grid cell holding the point.
pub fn coarse(lat: f64, long: f64) -> (f64, f64) {
    let snap = |v: f64| ((v / COARSE_CELL_DEG).floor() + 0.5) * COARSE_CELL_DEG;
    (snap(lat).clamp(-90.0, 90.0), snap(long).clamp(-180.0, 180.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_boxes() {
        // One degree of latitude is about 111.2 km.
        let d = distance_m(40.0, -3.7, 41.0, -3.7);
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        let b = bbox_around(40.4, -3.7, 1_000.0);
        assert!(b.contains(40.4089, -3.7));
        assert!(!b.contains(40.4091, -3.7));
        assert!(distance_m(40.4, -3.7, 40.4, b.max_long) >= 999.0);
    }

    #[test]
    fn coarse_points_stay_in_their_cell() {
        let (la, lo) = coarse(40.41234, -3.70111);
        assert!(
            (la - 40.4125).abs() < 1e-9 && (lo - (-3.7025)).abs() < 1e-9,
            "{la} {lo}"
        );
        assert!(distance_m(40.41234, -3.70111, la, lo) < 400.0);
    }
}
