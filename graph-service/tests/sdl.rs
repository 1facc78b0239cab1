//! The checked-in SDL must match the code. Regenerate with:
//! `cargo run -p graph-service -- schema > schema/graphql/schema.graphql`

#[test]
fn checked_in_sdl_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/graphql/schema.graphql");
    let checked_in = std::fs::read_to_string(&path).expect("schema/graphql/schema.graphql");
    let current = graph_service::api::sdl();
    assert!(
        checked_in == current,
        "schema/graphql/schema.graphql drifted from the code; regenerate it with \
         `cargo run -p graph-service -- schema > schema/graphql/schema.graphql`"
    );
}
