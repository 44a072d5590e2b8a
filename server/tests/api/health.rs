use crate::helpers::TestApp;

#[tokio::test]
async fn health_answers_ok_without_authentication() {
    let app = TestApp::spawn().await;
    let response = app.get("/hub/health", None).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
}
