var kiwisdr_com =
[
{"name":"Genova KiwiSDR","sdr_hw":"KiwiSDR","url":"http://kiwi-genova.example.org:8073","users":"3","users_max":"4","gps":"(44.395000, 8.956000)","asl":"100","loc":"Genova","sw_version":"KiwiSDR_v1.700","offline":"no","status":"active","fixes_min":"0"},
{"name":"Bad GPS","url":"http://bad.example.org:8073","users":"4","users_max":"4","gps":"(123.0, 500.0)","offline":"no"},
{"name":"","url":"http://10.1.2.3:8073","users":"0","users_max":"4"},
{"name":"No URL","users":"0"},
];
