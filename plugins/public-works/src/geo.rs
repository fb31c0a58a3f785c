//! District polygons from GeoJSON and point-in-polygon tests.
//!
//! Coordinates are GeoJSON order (`[long, lat]`), WGS 84 degrees, small
//! enough areas (a city) that planar ray casting is exact enough.
//!
//! The districts are searched while their GeoJSON is read, in one pass
//! that allocates nothing but the matching district's properties: every
//! call runs in a fresh instance, so building polygons first would be paid
//! on every intake (it was most of a call's cost). Positions may carry an
//! altitude; keys other than the ones used here (`bbox`, `id`, foreign
//! members) are skipped; `type` and `coordinates` may come in either order.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// What a district feature's `properties` hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DistrictProperties {
    #[serde(default)]
    pub name: String,
    /// Crew (queue) per department code, e.g. `{"public-works": "north-streets"}`.
    #[serde(default)]
    pub crews: BTreeMap<String, String>,
}

/// The properties of the first feature (in file order) of a GeoJSON
/// `FeatureCollection` whose `Polygon` or `MultiPolygon` contains the point.
pub fn find_district(collection: &str, lat: f64, long: f64) -> Result<Option<DistrictProperties>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(collection);
    let found = search(&mut de, lat, long)?;
    de.end()?;
    Ok(found)
}

/// [`find_district`] on a deserializer positioned at the collection, so
/// the districts can be searched while the configuration around them is
/// read. The deserializer must lend out its text (`serde_json::from_str`).
pub fn search<'de, D: Deserializer<'de>>(d: D, lat: f64, long: f64) -> Result<Option<DistrictProperties>, D::Error> {
    let found = Collection { lat, long }.deserialize(d)?;
    match found {
        Some(Hit(Some(raw))) => serde_json::from_str::<Option<DistrictProperties>>(raw.get())
            .map(|p| Some(p.unwrap_or_default()))
            .map_err(de::Error::custom),
        Some(Hit(None)) => Ok(Some(DistrictProperties::default())),
        None => Ok(None),
    }
}

/// A matching feature's `properties`, if it had any.
struct Hit<'de>(Option<&'de RawValue>);

#[derive(Clone, Copy)]
struct Collection {
    lat: f64,
    long: f64,
}

impl<'de> DeserializeSeed<'de> for Collection {
    type Value = Option<Hit<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Collection {
    type Value = Option<Hit<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a GeoJSON FeatureCollection")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Features {
                found = map.next_value_seed(Features(self))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Features(Collection);

impl<'de> DeserializeSeed<'de> for Features {
    type Value = Option<Hit<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Features {
    type Value = Option<Hit<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of GeoJSON features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = seq.next_element_seed(Feature(self.0))? {
            if found.is_none() {
                found = hit;
            }
        }
        Ok(found)
    }
}

struct Feature(Collection);

impl<'de> DeserializeSeed<'de> for Feature {
    type Value = Option<Hit<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Feature {
    type Value = Option<Hit<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a GeoJSON feature")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut properties, mut inside) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Properties => properties = Some(map.next_value::<&'de RawValue>()?),
                Key::Geometry => inside = Some(map.next_value_seed(Geometry(self.0))?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match inside {
            None => Err(de::Error::missing_field("geometry")),
            Some(false) => Ok(None),
            Some(true) => Ok(Some(Hit(properties))),
        }
    }
}

/// The keys read here, recognized without allocating.
#[derive(Deserialize, PartialEq, Eq)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Key {
    Features,
    Properties,
    Geometry,
    Type,
    Coordinates,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
enum Kind {
    Polygon,
    MultiPolygon,
}

struct Geometry(Collection);

impl<'de> DeserializeSeed<'de> for Geometry {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Geometry {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a GeoJSON Polygon or MultiPolygon")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (mut kind, mut shape) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Type => kind = Some(map.next_value::<Kind>()?),
                Key::Coordinates => shape = Some(map.next_value_seed(Level(self.0))?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        let shape = shape.ok_or_else(|| de::Error::missing_field("coordinates"))?;
        match (kind, shape) {
            (_, Shape::Empty) => Ok(false),
            (Kind::Polygon, Shape::Polygon(inside)) | (Kind::MultiPolygon, Shape::Multi(inside)) => Ok(inside),
            (Kind::Polygon, _) => Err(de::Error::custom(
                "a Polygon's coordinates are a list of rings of positions",
            )),
            (Kind::MultiPolygon, _) => Err(de::Error::custom(
                "a MultiPolygon's coordinates are a list of polygons (lists of rings of positions)",
            )),
        }
    }
}

/// One level of a coordinate tree, already reduced to what the point test
/// needs.
#[derive(Clone, Copy)]
enum Shape {
    Empty,
    Number(f64),
    Position(f64, f64),
    /// A ring, and whether the point is inside it.
    Ring(bool),
    /// A polygon (outline and holes), and whether the point is inside it.
    Polygon(bool),
    Multi(bool),
}

#[derive(Clone, Copy)]
struct Level(Collection);

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("GeoJSON coordinates (nested lists of [long, lat] positions)")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Shape, E> {
        Ok(Shape::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Shape, E> {
        Ok(Shape::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shape, E> {
        Ok(Shape::Number(v as f64))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let Collection { lat, long } = self.0;
        let mixed = || de::Error::custom("coordinates mix positions, rings and polygons at one level");
        let Some(first) = seq.next_element_seed(self)? else {
            return Ok(Shape::Empty);
        };
        match first {
            Shape::Number(x) => {
                let Some(Shape::Number(y)) = seq.next_element_seed(self)? else {
                    return Err(de::Error::custom("a position is at least two numbers, [long, lat]"));
                };
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Position(x, y))
            }
            // A ring: even-odd ray casting, one edge per position read.
            Shape::Position(x0, y0) => {
                let (mut px, mut py, mut n, mut inside) = (x0, y0, 1usize, false);
                let mut edge = |(xi, yi): (f64, f64), (xj, yj): (f64, f64)| {
                    if (yi > lat) != (yj > lat) && long < (xj - xi) * (lat - yi) / (yj - yi) + xi {
                        inside = !inside;
                    }
                };
                while let Some(s) = seq.next_element_seed(self)? {
                    let Shape::Position(x, y) = s else { return Err(mixed()) };
                    edge((x, y), (px, py));
                    (px, py, n) = (x, y, n + 1);
                }
                edge((x0, y0), (px, py));
                Ok(Shape::Ring(n >= 3 && inside))
            }
            // A polygon: the first ring is the outline, the others holes.
            Shape::Ring(outline) => {
                let mut in_hole = false;
                while let Some(s) = seq.next_element_seed(self)? {
                    match s {
                        Shape::Ring(r) => in_hole |= r,
                        Shape::Empty => {}
                        _ => return Err(mixed()),
                    }
                }
                Ok(Shape::Polygon(outline && !in_hole))
            }
            Shape::Polygon(first) => {
                let mut any = first;
                while let Some(s) = seq.next_element_seed(self)? {
                    match s {
                        Shape::Polygon(p) => any |= p,
                        Shape::Empty => {}
                        _ => return Err(mixed()),
                    }
                }
                Ok(Shape::Multi(any))
            }
            // Nothing but empty lists: no area.
            Shape::Empty => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Empty)
            }
            Shape::Multi(_) => Err(de::Error::custom("coordinates nested deeper than a MultiPolygon")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> String {
        format!("[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]")
    }

    fn fc(features: &[String]) -> String {
        format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))
    }

    fn feature(name: &str, geometry: &str) -> String {
        format!(
            r#"{{"type":"Feature","properties":{{"name":"{name}","crews":{{"public-works":"{name}-crew"}}}},"geometry":{geometry}}}"#
        )
    }

    fn name_at(collection: &str, lat: f64, long: f64) -> Option<String> {
        find_district(collection, lat, long).unwrap().map(|p| p.name)
    }

    #[test]
    fn polygons_with_holes() {
        let g = format!(
            r#"{{"type":"Polygon","coordinates":[{},{}]}}"#,
            square(0.0, 0.0, 10.0, 10.0),
            square(4.0, 4.0, 6.0, 6.0)
        );
        let c = fc(&[feature("a", &g)]);
        assert_eq!(name_at(&c, 1.0, 1.0).as_deref(), Some("a"));
        assert_eq!(name_at(&c, 5.0, 5.0), None, "inside the hole");
        assert_eq!(name_at(&c, 5.0, 11.0), None);
        assert_eq!(name_at(&c, -0.1, 5.0), None);
        let found = find_district(&c, 1.0, 1.0).unwrap().unwrap();
        assert_eq!(found.crews.get("public-works").map(String::as_str), Some("a-crew"));
    }

    #[test]
    fn multipolygons_key_order_altitude_bbox_and_file_order() {
        let multi = format!(
            r#"{{"coordinates":[[{}],[{}]],"bbox":[0,0,30,30],"type":"MultiPolygon"}}"#,
            square(0.0, 0.0, 1.0, 1.0),
            square(20.0, 20.0, 30.0, 30.0)
        );
        let with_altitude = r#"{"type":"Polygon","coordinates":[[[0,0,5],[50,0,5],[50,50,5],[0,50,5],[0,0,5]]]}"#;
        let c = fc(&[feature("multi", &multi), feature("big", with_altitude)]);
        assert_eq!(
            name_at(&c, 25.0, 25.0).as_deref(),
            Some("multi"),
            "first match in file order"
        );
        assert_eq!(name_at(&c, 0.5, 0.5).as_deref(), Some("multi"));
        assert_eq!(name_at(&c, 10.0, 10.0).as_deref(), Some("big"));
        assert_eq!(name_at(&c, 60.0, 10.0), None);
    }

    #[test]
    fn a_match_without_properties_has_default_ones() {
        let c = format!(
            r#"{{"features":[{{"geometry":{{"type":"Polygon","coordinates":[{}]}}}}]}}"#,
            square(0.0, 0.0, 2.0, 2.0)
        );
        assert_eq!(
            find_district(&c, 1.0, 1.0).unwrap(),
            Some(DistrictProperties::default())
        );
        assert_eq!(
            find_district(r#"{"type":"FeatureCollection","features":[]}"#, 1.0, 1.0).unwrap(),
            None
        );
    }

    #[test]
    fn malformed_geojson_is_an_error() {
        let sq = square(0.0, 0.0, 1.0, 1.0);
        for bad in [
            "7".to_owned(),
            r#"{"features":7}"#.to_owned(),
            fc(&[feature("x", r#"{"type":"Polygon","coordinates":[[0,0],[1,1]]}"#)]),
            fc(&[feature(
                "x",
                &format!(r#"{{"type":"MultiPolygon","coordinates":[{sq}]}}"#),
            )]),
            fc(&[feature("x", &format!(r#"{{"type":"Point","coordinates":[{sq}]}}"#))]),
            fc(&[feature("x", r#"{"type":"Polygon","coordinates":[[[0],[1,0],[1,1]]]}"#)]),
            fc(&[feature("x", r#"{"type":"Polygon"}"#)]),
            fc(&[feature("x", r#"{"type":"Polygon","coordinates":[[["a","b"]]]}"#)]),
            fc(&[feature("x", r#"{"type":"Polygon","coordinates":[[[0,0],[[1,0]]]]}"#)]),
            r#"{"features":[{"properties":{}}]}"#.to_owned(),
            format!("{} trailing", fc(&[])),
        ] {
            assert!(find_district(&bad, 0.5, 0.5).is_err(), "accepted {bad}");
        }
    }
}
