//! District polygons from GeoJSON and point-in-polygon tests.
//!
//! Coordinates are GeoJSON order (`[long, lat]`), WGS 84 degrees, small
//! enough areas (a city) that planar ray casting is exact enough.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct FeatureCollection {
    #[serde(default)]
    pub features: Vec<Feature>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Feature {
    #[serde(default)]
    pub properties: DistrictProperties,
    pub geometry: Geometry,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DistrictProperties {
    #[serde(default)]
    pub name: String,
    /// Crew (queue) per department code, e.g. `{"public-works": "north-streets"}`.
    #[serde(default)]
    pub crews: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", content = "coordinates")]
pub enum Geometry {
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

impl Geometry {
    pub fn contains(&self, lat: f64, long: f64) -> bool {
        match self {
            Geometry::Polygon(rings) => polygon_contains(rings, lat, long),
            Geometry::MultiPolygon(polys) => polys.iter().any(|rings| polygon_contains(rings, lat, long)),
        }
    }
}

/// The first ring is the outline, the others are holes.
fn polygon_contains(rings: &[Vec<[f64; 2]>], lat: f64, long: f64) -> bool {
    match rings.split_first() {
        Some((outer, holes)) => ring_contains(outer, lat, long) && !holes.iter().any(|h| ring_contains(h, lat, long)),
        None => false,
    }
}

/// Even-odd ray casting.
fn ring_contains(ring: &[[f64; 2]], lat: f64, long: f64) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let [xi, yi] = ring[i];
        let [xj, yj] = ring[j];
        if (yi > lat) != (yj > lat) && long < (xj - xi) * (lat - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squares_with_holes() {
        let g = Geometry::Polygon(vec![
            vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]],
            vec![[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0], [4.0, 4.0]],
        ]);
        assert!(g.contains(1.0, 1.0));
        assert!(!g.contains(5.0, 5.0));
        assert!(!g.contains(11.0, 5.0));
        assert!(!g.contains(5.0, -0.1));
    }
}
