//! The crisis check and its answer, as the constitution's safety clause
//! (document 07, I7) asks: acute risk caught in each of the five languages,
//! look-alikes left alone, the answer in the writer's language with the
//! region's help, and homes set up before the clause upgraded in place.
//!
//! Every sentence here was written for these tests, not taken from an
//! evaluation set.

use mirror_node::engine::Engine;
use mirror_node::engine::safety;
use mirror_node::home::Home;

fn engine() -> Engine {
    Engine::genesis().unwrap()
}

fn kind(text: &str) -> Option<String> {
    engine().crisis(text).map(|c| c.kind)
}

#[test]
fn acute_risk_is_caught_in_each_language() {
    let cases = [
        (
            "en",
            "I don't want to be alive anymore and I've stopped pretending.",
            "suicide",
        ),
        (
            "en",
            "Went back to the bridge after band practice. Stood on the bridge a long time looking down.",
            "suicide",
        ),
        (
            "en",
            "Bought the pills today. Counting them on the bed.",
            "suicide",
        ),
        (
            "en",
            "The urge to cut myself came back tonight, stronger than before.",
            "self_harm",
        ),
        (
            "en",
            "My boyfriend punched me in the stomach when I got home late.",
            "abuse",
        ),
        (
            "en",
            "She threatened to kill me if I call my sister again.",
            "danger",
        ),
        (
            "fr",
            "Je veux mourir, je n'en peux plus de tout ça.",
            "suicide",
        ),
        (
            "fr",
            "Hier soir je me suis encore scarifié les bras.",
            "self_harm",
        ),
        ("fr", "Il m'a frappée devant les enfants.", "abuse"),
        (
            "de",
            "Ich will nicht mehr leben, alles ist zu schwer.",
            "suicide",
        ),
        ("de", "Ich habe mich gestern wieder geritzt.", "self_harm"),
        ("de", "Er schlägt mich, wenn er getrunken hat.", "abuse"),
        (
            "es",
            "Ya no quiero vivir, estoy cansada de todo.",
            "suicide",
        ),
        ("es", "Anoche volví a cortarme en las piernas.", "self_harm"),
        ("es", "Mi pareja me golpeó otra vez.", "abuse"),
        ("pt", "Não quero mais viver, tudo dói.", "suicide"),
        ("pt", "Voltei a me cortar ontem à noite.", "self_harm"),
        ("pt", "O meu marido bateu-me outra vez.", "abuse"),
    ];
    for (lang, text, expected) in cases {
        assert_eq!(kind(text).as_deref(), Some(expected), "{lang}: {text}");
    }
}

/// Everyday words that also mark look-alikes ("no longer", "used to", a
/// kitchen, the news, "a book") never cancel plain words of risk around
/// them, and the scorer reaches entries no rule names.
#[test]
fn everyday_context_does_not_cancel_risk() {
    let cases = [
        "I no longer want to live.",
        "I used to love my job. Now I just want to die.",
        "When I was at school I was happy. Now I want to kill myself.",
        "I can't book anything for next week because I won't be here. I want to die.",
        "He dragged me into the kitchen by my hair.",
        "I left letters for my children in the kitchen drawer. I won't need anything after Sunday.",
        "Mein Stiefvater schickt mir nachts Nachrichten und sagt, ich soll Mama nichts davon erzählen.",
        "Il m'a tirée par les cheveux jusqu'à la chambre et m'a enfermée.",
        "Sorted the bills into a pile with a note saying who to call, so it's easy for whoever.",
    ];
    for text in cases {
        assert!(kind(text).is_some(), "{text}");
    }
}

/// A look-alike frames a whole short entry, but in a long one it reaches
/// only the sentences beside it: a textbook in the morning does not make an
/// evening's wish not to exist fiction.
#[test]
fn a_look_alike_reaches_the_sentences_beside_it_in_a_long_entry() {
    let framed = "I'm reading a novel where the main character wants to die. It is slow going.";
    assert_eq!(kind(framed), None, "{framed}");
    let long = "Maths in the morning and I still haven't finished the book for English. \
        Lunch was pasta and Sam talked about his new bike for twenty minutes. \
        Training got cancelled because of the rain, so I walked home the long way past the \
        old cinema and the bakery that closed last year, and bought crisps at the corner shop. \
        Mum made soup and asked about the exam and I said it went fine. \
        Some nights I just want to die and I don't tell anyone. \
        Then I watched two episodes of something and went to bed.";
    assert!(long.split_whitespace().count() > 80);
    // Caught by the rule for a wish to be dead, not only by the scorer.
    let caught = engine().crisis(long).expect("a crisis");
    assert_ne!(caught.kind, "general", "{caught:?}");
    let near = "Maths in the morning and I still haven't finished the homework for English. \
        Lunch was pasta and Sam talked about his new bike for twenty minutes. \
        Training got cancelled because of the rain, so I walked home the long way past the \
        old cinema and the bakery that closed last year, and bought crisps at the corner shop. \
        Mum made soup and asked about the exam and I said it went fine. \
        In the novel we are reading the girl says she wants to die, and the teacher made us write about it. \
        Then I watched two episodes of something and went to bed.";
    assert!(near.split_whitespace().count() > 80);
    assert_eq!(kind(near), None, "{near}");
}

/// Ordinary evenings told in the first person (a council on hold, a
/// theory test, a garage bill, a vet's bill) that the short-entry scorer
/// alone reads as risk, and the build before the gate answered as a crisis
/// (checked by hand): the everyday gate, which learnt ordinary days, lets
/// them be ordinary entries.
#[test]
fn ordinary_evenings_the_scorer_misreads_pass_the_everyday_gate() {
    use mirror_node::engine::crisis_model::Scorer;
    let texts = [
        "Got my results back from the driving theory test, passed by two marks. I'd told everyone I didn't care if I failed, which was a lie. Mum bought a cake. Practical is in March, and I've already decided I'll be sick with nerves the whole week before.",
    ];
    for text in texts {
        assert!(text.split_whitespace().count() <= safety::LONG_ENTRY_WORDS);
        // The scorer alone passes each (and no look-alike stops it).
        assert!(
            Scorer::builtin().risk(text) >= safety::SCORE_THRESHOLD,
            "{text}"
        );
        assert!(Scorer::builtin_gate().score(text) < safety::GATE_THRESHOLD);
        assert_eq!(kind(text), None, "{text}");
    }
    // The scorers that learnt the spent crisis sets no longer misread this
    // one; it stays an ordinary evening.
    // Nor, once they learnt the answered mirrorback sets, this one.
    let council = "Rang the council again about the damp in the back bedroom. Forty minutes on hold, then a woman called Sandra told me it's 'on the list' and someone will come 'in the next few weeks'. I said that's what they said in August. She said she understood my frustration. I don't think she did. Put the dehumidifier on and wrote it all down in case I need it for the ombudsman.";
    assert_eq!(kind(council), None, "{council}");
    let mot = "The garage rang to say the car failed its MOT on the brakes and two tyres. £380. I said fine because what else can I say, I need it for work. That's the holiday fund gone for this year. Told Sam and he said we can do days out instead. He's good like that. I'm still annoyed.";
    assert_eq!(kind(mot), None, "{mot}");
    // Once read past the scorer and held back as a look-alike (the vet's
    // verdict); the scorers that learnt the answered sets read it lower.
    let vet = "The vet says Biscuit needs two teeth out and it'll be £600. I told her to go ahead before I'd even thought about it. Moved some money from the holiday pot. He's asleep on my feet now like nothing happened.";
    assert_eq!(kind(vet), None, "{vet}");
}

/// The classes a tenth writer's set showed missing: hiding from someone
/// outside now, a protection order broken with a threat, a date set with
/// passwords left, a threat to break the writer's legs.
#[test]
fn hiding_from_someone_and_a_broken_order_are_caught() {
    let cases = [
        "She's been outside since nine. I turned the lights off and put a chair against the door and she knows I'm home.",
        "Somebody has been trying the front door for five minutes. I rang 999 and I'm under the stairs.",
        "Mi ex vino a casa a pesar de la orden de alejamiento y me dijo que si no retiro la denuncia lo voy a pagar.",
        "Wrote down the passwords for my brother and asked Jo to feed the fish. I've set it for the 2nd, a Sunday, when nobody will be around.",
        "Dice que si me voy con mi hermana me va a romper las piernas.",
    ];
    for text in cases {
        assert!(kind(text).is_some(), "{text}");
    }
}

/// A fresh review set's entry the scorer for long entries missed at its
/// first threshold (0.8; it scores 0.66): no rule names it, and it must be
/// caught.
#[test]
fn a_long_entry_hiding_from_a_violent_partner_is_caught() {
    let text = "Writing this locked in the bathroom. He threw the kettle at the wall about an hour ago and now he's downstairs drinking and said when he's finished we'll 'talk properly'. Last time he said that I ended up with a sprained wrist and told work I fell off a step. The kids are asleep in the back bedroom. My phone is at 12%. I don't know whether to stay quiet in here or try to get them out the back door.";
    assert!(text.split_whitespace().count() > 80);
    assert!(kind(text).is_some(), "{text}");
    // Nor does a look-alike far from the risk hide it.
    let coached = format!("The kids' football training was cancelled this week. {text}");
    assert!(kind(&coached).is_some(), "{coached}");
}

/// The classes the floor gained from the spent fresh sets, in new words:
/// lying in wait with a weapon, a parent's weapon, looking up a method,
/// hidden self-harm, "nobody would notice", a child in danger.
#[test]
fn indirect_classes_are_caught() {
    let cases = [
        (
            "I know where he parks after his shift. The bat is already in my boot.",
            "danger",
        ),
        (
            "They laughed at me again. I'm bringing my dad's knife on Monday.",
            "danger",
        ),
        (
            "Je sais où il habite maintenant. Demain je prends le fusil de mon père.",
            "danger",
        ),
        (
            "Ya sé a qué hora sale del gimnasio. Lo espero con la navaja.",
            "danger",
        ),
        (
            "Looked up which bridge is high enough. Sunday, early, before anyone is up.",
            "suicide",
        ),
        (
            "Combien de cachets il faut, j'ai cherché. J'en ai assez dans le tiroir, j'y vais vendredi.",
            "suicide",
        ),
        (
            "Nobody would notice if I stopped turning up. Not for weeks.",
            "suicide",
        ),
        (
            "Se eu sumisse ninguém ia perceber, sinceramente.",
            "suicide",
        ),
        (
            "Twenty-three days clean and tonight I got the box out again.",
            "self_harm",
        ),
        (
            "Hab heute den Kopf gegen die Wand geschlagen, bis es still wurde.",
            "self_harm",
        ),
        (
            "The little boy upstairs got locked out again at 2am in the cold, no shoes.",
            "danger",
        ),
        // "Again" said with "volver a" splits "me pegó"; a pupil's class is
        // not a lesson about the topic.
        (
            "Mi tío me volvió a pegar porque llegué tarde. Mañana tengo clase a las ocho.",
            "abuse",
        ),
        (
            "O meu pai voltou a bater-me ontem à noite. Fui para a aula de casaco.",
            "abuse",
        ),
        (
            "Llevo un mes guardando las pastillas para dormir de mi abuela en una bolsa.",
            "suicide",
        ),
        (
            "Je garde tous mes cachets dans une boîte depuis janvier.",
            "suicide",
        ),
        (
            "Put the rope over the beam in the barn this afternoon to see if it holds. It does.",
            "suicide",
        ),
        (
            "Tengo el carbón y la cinta en el maletero desde el martes.",
            "suicide",
        ),
        (
            "The watch and the two letters are in an envelope with their names on, in the drawer.",
            "suicide",
        ),
        (
            "Every cough now I catch myself hoping it's the one that takes me.",
            "suicide",
        ),
        (
            "Pressed my nails into my wrist under the table till they bled, every night this week.",
            "self_harm",
        ),
        (
            "El encargado tiene mi pasaporte desde marzo y dice que es por mi bien.",
            "abuse",
        ),
        (
            "She got her hands round my throat on the stairs and I saw stars.",
            "abuse",
        ),
        (
            "Sat in the garage with the loaded pistol for a while after dinner.",
            "suicide",
        ),
        (
            "Dad shoved me into the door frame over the dishes and said next time he'll break my arm. Maths essay due Friday.",
            "abuse",
        ),
        (
            "Up all night with the baby and for a second I had a picture of shaking him until he was quiet. Put him in the cot and walked out.",
            "danger",
        ),
        (
            "I lock Jamie in the flat when I do the early shift. He's three, he mostly sleeps.",
            "danger",
        ),
        (
            "La bebé no para de llorar y ya no puedo más. Hoy la apreté tan fuerte que le quedó un moretón. Tengo miedo de lo que pueda hacer mañana.",
            "danger",
        ),
        (
            "The baby screamed for three hours and I gripped him so hard there's a mark on his arm. I'm scared of what I might do tomorrow.",
            "danger",
        ),
        (
            "Mi sobrina de 2 años se queda sola todo el día porque nadie la cuida, y ayer la encontré con las pastillas de la abuela en la boca.",
            "danger",
        ),
        (
            "O meu padrasto tranca-me no quarto ao fim de semana e diz que se eu contar a alguém vou para um lar.",
            "abuse",
        ),
        // A cover story is not an everyday scene.
        (
            "Bought razor blades and told myself they were for shaving. Long sleeves at work so nobody asks.",
            "self_harm",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(kind(text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn look_alikes_stay_ordinary_entries() {
    let cases = [
        "This commute is killing me, honestly.",
        "The spreadsheet is going to be the death of me lol.",
        "Watched a film where the hero jumps off the bridge at the end.",
        "Ten years since I last self-harmed, and today I ran a half marathon.",
        "I'm training as a volunteer for a suicide prevention line.",
        "Sliced my thumb cutting an onion, blood everywhere, dinner survived.",
        "Crashed my bike on the descent and hurt my knee.",
        "My sister would kill me if she knew I ate her cake.",
        "Crushed the workout, my legs are dead.",
        "Ce film d'horreur m'a tué de rire.",
        "Die Arbeit bringt mich noch um, so viel zu tun.",
        "Este calor me está matando.",
        "Este trânsito ainda me mata.",
        "Felt low all day and cried on the bus.",
        "Made a list of everyone to invite to the barbecue and where they all sit.",
        "Me corté con el cuchillo del pan preparando las tostadas, nada grave.",
        "Counted my clean days at the gym: forty in a row, new record.",
        "Chopping onions for the curry and the knife slipped. Told everyone I was fine, dinner saved.",
        "New guitar strings today. Practised the song until I didn't fumble the chords on the bridge.",
        "Limpiando las truchas me corté un poco el dedo con la navaja, nada más.",
        "Hoy di clase a mis alumnos sobre prevención y luego fuimos a comer.",
        "Led the second pitch at the crag, fell off onto the rope twice, Jo's belay was rock solid.",
        "Cortando calabacín con la mandolina me corté un poco, tirita y a seguir.",
        "Mi hermano de 16 años se queda solo todo el día jugando a la consola en verano.",
        "Our three-year-old was at nursery, so I had the flat to myself and wrote all day.",
        "Sharpened the carving knife for Sunday and laid the table for eight.",
        "The kids spent the afternoon carving pumpkins on the back step.",
        // A squeeze of an arm or a hand is as often comfort.
        "Sunday lunch at Mum's. She squeezed my arm when I said I'd got the job.",
        "Dad squeezed my hand with his good one and made a joke about the hospital jelly.",
    ];
    for text in cases {
        assert_eq!(kind(text), None, "{text}");
    }
    // A squeeze of the throat or a wrist still counts.
    for text in [
        "He squeezed my wrist until I said sorry for laughing.",
        "She gripped my throat against the fridge when I asked for the car keys.",
    ] {
        assert!(kind(text).is_some(), "{text}");
    }
}

#[test]
fn the_answer_is_care_in_the_writers_language_with_the_regions_help() {
    let e = engine();
    let answer = |text: &str, region: &str| {
        let crisis = e.crisis(text).expect("a crisis");
        let lang = e.language(text);
        safety::answer(
            &e.params().languages,
            &lang.code,
            &crisis,
            e.safety_resources(Some(region)),
        )
    };
    let en = answer("Some days I wish I could die in my sleep.", "US");
    assert!(en.contains("911") && en.contains("988"), "{en}");
    assert!(e.checker().check(&en).is_compliant(), "{en}");
    assert!(!en.contains('?'), "no question in a crisis answer: {en}");

    let es = answer("Quiero morirme, no aguanto más.", "ES");
    assert!(es.contains("024") && es.contains("112"), "{es}");
    assert!(es.starts_with("Gracias"), "{es}");

    let fr = answer("Il m'a frappée encore hier soir.", "FR");
    assert!(
        fr.contains("3919") && fr.contains("3114"),
        "abuse line and crisis line: {fr}"
    );
    assert!(!fr.contains(" you "), "{fr}");

    // No region: the international directory, never nothing.
    let intl = answer("I want to end my life.", "");
    assert!(intl.contains("findahelpline.com"), "{intl}");
    // A region the directory does not have: the fallback too.
    let unknown = answer("I want to end my life.", "ZZ");
    assert!(unknown.contains("findahelpline.com"), "{unknown}");
}

#[test]
fn every_helpline_names_its_source_and_every_crisis_phrasing_passes() {
    let e = engine();
    for region in &e.safety().regions {
        assert!(!region.emergency_source.is_empty(), "{}", region.code);
        assert!(!region.crisis.source.is_empty(), "{}", region.code);
    }
    // Every crisis answer the node can compose passes the checker.
    for code in e.params().languages.keys() {
        for kind in ["suicide", "self_harm", "abuse", "danger", safety::GENERAL] {
            for region in &e.safety().regions {
                let crisis = safety::Crisis {
                    kind: kind.into(),
                    kinds: vec![kind.into()],
                    rule: "test".into(),
                    cue: "Everything is sorted for Sunday.".into(),
                };
                let text = safety::answer(
                    &e.params().languages,
                    code,
                    &crisis,
                    e.safety_resources(Some(&region.code)),
                );
                assert!(
                    e.checker().check(&text).is_compliant(),
                    "{code} {kind} {}: {text}",
                    region.code
                );
            }
        }
    }
}

/// A home set up with the first genesis (before the safety clause) is
/// upgraded in place: the old documents kept, the new ones in force, the
/// upgrade recorded, and the commons it joined by default kept.
#[test]
fn homes_on_the_first_genesis_are_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let store = home.open_store().unwrap();
    home.init_with(&store, "tester").unwrap();
    drop(store);
    // Write the first genesis: no document 07, no I7.
    let constitution_dir = home.constitution_dir();
    std::fs::remove_file(constitution_dir.join("07-care-in-a-crisis.md")).unwrap();
    let invariants = std::fs::read_to_string(constitution_dir.join("invariants.toml")).unwrap();
    let cut = invariants.find("\n\n[[invariant]]\nid = \"I7\"").unwrap();
    std::fs::write(
        constitution_dir.join("invariants.toml"),
        format!("{}\n", &invariants[..cut]),
    )
    .unwrap();
    // Nor the compliance lexicon's later [indirect_advice] section.
    let compliance = std::fs::read_to_string(constitution_dir.join("compliance.toml")).unwrap();
    let cut = compliance.find("\n\n[indirect_advice]").unwrap();
    std::fs::write(
        constitution_dir.join("compliance.toml"),
        format!("{}\n", &compliance[..cut]),
    )
    .unwrap();
    // It had joined the default commons.
    std::fs::write(home.legacy_commons_db_path(), b"").unwrap();

    let constitution = home.constitution().unwrap();
    assert_eq!(
        constitution.hash().to_hex(),
        mirror_constitution::GENESIS_HASH
    );
    assert!(constitution_dir.join("07-care-in-a-crisis.md").exists());
    let first = mirror_constitution::SUPERSEDED_GENESIS[0];
    assert!(
        dir.path()
            .join("releases/constitutions")
            .join(first)
            .join("invariants.toml")
            .exists()
    );
    let log = std::fs::read_to_string(home.constitution_upgrades_path()).unwrap();
    assert!(
        log.contains(first) && log.contains(mirror_constitution::GENESIS_HASH),
        "{log}"
    );
    let config = home.load_config().unwrap();
    assert_eq!(
        config.commons.id,
        mirror_node::home::default_commons_id(first)
    );
    // Once is enough: reading again changes nothing.
    home.constitution().unwrap();
    let again = std::fs::read_to_string(home.constitution_upgrades_path()).unwrap();
    assert_eq!(again.lines().count(), 1);

    // An edited constitution is still refused.
    std::fs::write(constitution_dir.join("01-core-principle.md"), "edited").unwrap();
    assert!(home.constitution().is_err());
}

/// Classes two fresh writers' sets showed (fresh 11 and 12), each with its
/// look-alike: wanting to die "of embarrassment" is an idiom in every
/// language; a baby shaken harder than meant, and a parent afraid of
/// themselves; a carer named as a third party does not make an elder's
/// abuse work on the topic; an elided word ("d'essence") is an anchor.
#[test]
fn idioms_of_dying_a_shaken_baby_and_a_carer_named() {
    for idiom in [
        "Me quiero morir de la vergüenza, en el Zoom me vieron comiendo en pijama.",
        "Quero morrer de vergonha, a câmera ficou ligada a reunião toda.",
        "J'ai envie de mourir de honte, j'ai appelé la prof « maman ».",
        "I want to die of embarrassment, I called my teacher mum in front of everyone.",
        "Ich könnte vor Scham sterben, will sterben vor Scham, ehrlich.",
    ] {
        assert_eq!(kind(idiom), None, "{idiom}");
    }
    for meant in [
        "Me quiero morir. Ya no aguanto más.",
        "Quero morrer, não aguento mais nada.",
    ] {
        assert!(kind(meant).is_some(), "{meant}");
    }
    let shaken = "Um drei hat Mila wieder geschrien. Ich hab sie fester geschüttelt, als ich wollte. Ich hab Angst, morgen wieder allein mit der Kleinen zu sein. Ich hab Angst vor mir selbst.";
    assert!(kind(shaken).is_some(), "{shaken}");
    let no_child = "Drei Stücke Torte nach dem Abendessen. Ich hab Angst vor mir selbst, wenn Schokolade im Haus ist.";
    // Not the rule without a small child (the scorer alone reads this one
    // as risk, a false alarm BENCHMARKS.md counts among its kind).
    let rule = engine().crisis(no_child).map(|c| c.rule);
    assert_ne!(rule.as_deref(), Some("urge_to_harm_baby"), "{no_child}");
    // A dog leaning against a leg is not a burn; a lighter held there is.
    let dog = "Went to the shelter. An old lab called Biscuit leaned his whole weight against my leg. I want him.";
    assert_eq!(kind(dog), None, "{dog}");
    let burn =
        "Locked the bathroom door and held the lighter against my leg until I could breathe again.";
    assert!(kind(burn).is_some(), "{burn}");
    let elder = "Markus hat mir heute wieder das Telefon weggenommen und gesagt, wenn ich noch einmal mit der Pflegerin über Geld rede, komme ich ins Heim. Als ich widersprochen habe, hat er mich gegen den Schrank gestoßen. Der Arm ist ganz blau.";
    assert!(kind(elder).is_some(), "{elder}");
}

/// Classes a third fresh writer's set showed (fresh13), each with its
/// look-alike: a child told nobody will believe her by the adult who comes
/// into her room; "todo el curso" is the school year, not a course; French
/// bleeding; "rien ne me touche" is numbness, not touch; an anniversary of
/// recovery is the past.
#[test]
fn silenced_children_the_school_year_and_kept_anniversaries() {
    let silenced = "Mi padrastro entra a mi cuarto cuando mi mamá trabaja de noche. Le dije que no y me tapó la boca. Me dijo que si le cuento a alguien nadie me va a creer.";
    assert!(kind(silenced).is_some(), "{silenced}");
    let marathon =
        "Ran the whole marathon in under four hours. Nobody will believe me at work on Monday.";
    assert_eq!(kind(marathon), None, "{marathon}");
    let school = "llevo todo el curso aguantando a Dani. tengo la navaja de mi abuelo en la mochila y sé dónde se ponen siempre. mañana que vean lo que es pasar miedo de verdad.";
    assert!(kind(school).is_some(), "{school}");
    let bleeding = "jsuis dans la salle de bain là, j'ai recommencé. ça saigne plus que d'hab et j'arrive pas à arrêter de trembler.";
    assert!(kind(bleeding).is_some(), "{bleeding}");
    for ordinary in [
        "Semaine bizarre. Je me sens vide, je fais les choses mais rien ne me touche vraiment. Rendez-vous chez le médecin mardi.",
        "Hoy cumplo dos años sin autolesionarme. Lo apunté en el calendario de la cocina con un corazón.",
    ] {
        assert_eq!(kind(ordinary), None, "{ordinary}");
    }
    // Not any "años sin": three years without seeing one's children is the risk.
    let apart = "Tres años sin ver a mis hijos en Honduras y el dinero no alcanza. A veces pienso que valgo más muerto, con el seguro ellos podrían vivir.";
    assert!(kind(apart).is_some(), "{apart}");
}

/// Classes a fourth fresh writer's set showed (fresh14): a cover story in
/// Portuguese and Spanish ("disse que era para o estendal", "me he
/// inventado que me caí de la bici") says the everyday words are a pretext,
/// and a bike is a scene for its own sentence, not a frame for the entry.
#[test]
fn cover_stories_in_portuguese_and_spanish() {
    let rope = "Já tenho a corda. Comprei-a na drogaria e disse que era para o estendal. Sei qual viga da garagem aguenta.";
    assert!(kind(rope).is_some(), "{rope}");
    let lip = "Anoche Álex me estampó contra la puerta del baño. Tengo el labio partido y en la oficina me he inventado que me caí de la bici.";
    assert!(kind(lip).is_some(), "{lip}");
    let fell = "Me caí de la bici bajando al río y tengo el labio partido. Mañana partido de fútbol igual.";
    assert_eq!(kind(fell), None, "{fell}");
}

#[test]
fn classes_two_fresh_sets_had_are_caught_in_each_language() {
    for text in [
        "O padrasto entrou no meu quarto outra vez de madrugada. Diz que se eu contar a minha mãe não acredita.",
        "Mi tío entra en mi cuarto cuando mamá trabaja de noche. Dice que es un secreto nuestro.",
        "Il a eu la main sur ma gorge pendant une minute hier soir, contre le frigo. Ce matin il a fait des crêpes.",
        "Die Flinte ist geladen und steht im Keller. Das Testament liegt beim Notar, Hund ist bei der Nachbarin.",
        "Tiene una orden de alejamiento y le da igual: hoy me escribió desde otro número.",
        "Er weiß, wo ich arbeite. Gestern hat er mir ein Foto von seinem Messer geschickt.",
        "Told my sister I walked into the door again. He was sweet after, he always is.",
        "Sábado tomei a caixa toda de comprimidos. Acordei no hospital e ninguém fala disso.",
        "J'ai recommencé, avec la lame, là où personne ne regarde, en haut de la cuisse.",
        "On the motorway tonight I kept thinking how easy it would be to let go of the wheel at the bridge.",
    ] {
        assert!(kind(text).is_some(), "{text}");
    }
    for text in [
        "The doctor put her hand on my neck to feel the glands and said it's just a virus.",
        "Dad keeps the shotgun loaded for the foxes during lambing season, which Mum hates.",
        "Mi profesora de autoescuela dice que nunca hay que soltar el volante en una curva.",
        "Took the whole box of chocolates to the office and it was gone by ten.",
    ] {
        assert_eq!(kind(text), None, "{text}");
    }
}

#[test]
fn a_look_alike_far_from_the_scorers_cue_does_not_hold_a_short_entry_back() {
    // "journal" (a newspaper cancelled) is a look-alike, three sentences
    // from what the scorer reads as risk: it no longer colours the entry.
    let farewell = "J'ai donné les plantes à la voisine et le chat à ma sœur, elle pense que je pars en voyage. Le testament est dans le tiroir du bureau, avec une lettre pour chacun des garçons. J'ai annulé l'abonnement au journal. Je suis calme. Samedi, tout sera fini.";
    assert!(farewell.split_whitespace().count() <= safety::LONG_ENTRY_WORDS);
    assert!(kind(farewell).is_some(), "{farewell}");
    let moving = "Gave Sam my old bike, said I'm moving lol. Finally booked the flat in Leeds. Saturday after everyone goes to the match we're having a leaving do. Feel oddly calm now I've decided.";
    assert_eq!(kind(moving), None, "{moving}");
}

/// The trained scorer's catch names no kind, and its cue may be an
/// ordinary sentence: the answer says which words it read, that they may
/// hold more than they show, and where help is; it tells nobody how heavy
/// their day was.
#[test]
fn the_scorers_answer_quotes_what_it_read_and_presumes_nothing() {
    let e = engine();
    let say = |text: &str, lang: &str| {
        let crisis = safety::Crisis {
            kind: safety::GENERAL.into(),
            kinds: vec![safety::GENERAL.into()],
            rule: "scorer (0.70)".into(),
            cue: text.into(),
        };
        safety::answer(
            &e.params().languages,
            lang,
            &crisis,
            e.safety_resources(Some("GB")),
        )
    };
    let en = say("I gave the dog to my brother and wrote the letters.", "en");
    assert!(
        en.starts_with("In your words: “I gave the dog to my brother and wrote the letters”."),
        "{en}"
    );
    assert!(
        en.contains("999") && !en.contains("sounds very heavy"),
        "{en}"
    );
    let fr = say("J'ai tout rangé pour dimanche.", "fr");
    assert!(
        fr.starts_with("Tu écris : « J'ai tout rangé pour dimanche »."),
        "{fr}"
    );
    // A long cue is shortened, never quoted whole.
    let long = "Then I walked to the end of the pier and stood there for a long while watching the water come in under the boards and the gulls on the rail, and nobody else was out there at all";
    let quoted = say(long, "en");
    assert!(!quoted.contains("nobody else was out there"), "{quoted}");
    // Without a cue, no empty quotation.
    let bare = say("  ", "en");
    assert!(
        !bare.contains("“”") && bare.starts_with("Words like these"),
        "{bare}"
    );
    // The rules' kinds keep their own opening.
    let crisis = e.crisis("I want to end my life.").expect("a crisis");
    let rule = safety::answer(
        &e.params().languages,
        "en",
        &crisis,
        e.safety_resources(Some("GB")),
    );
    assert!(!rule.contains("In your words"), "{rule}");
}

/// Taking all of one's pills, said as what one will do, in each language;
/// a course of antibiotics or a box of vitamins is not.
#[test]
fn taking_all_the_pills_is_caught_in_each_language() {
    for text in [
        "Saved up the sleeping pills for a month. Tonight I'm going to take them all.",
        "Comprei os comprimidos na farmácia ao lado do trabalho. Sábado vou tomar todos.",
        "Tengo las pastillas en el cajón. El domingo me las voy a tomar todas.",
        "J'ai gardé les cachets dans la boîte à chaussures. Ce soir je vais les prendre tous.",
        "Die Schlaftabletten liegen im Schrank. Heute Nacht will ich sie alle schlucken.",
    ] {
        assert!(kind(text).is_some(), "{text}");
    }
    for text in [
        "The doctor said finish the antibiotics, so I have to take them all even though I feel fine.",
        "Bought vitamins in bulk, Mum says take them all before they expire.",
    ] {
        assert_eq!(kind(text), None, "{text}");
    }
}

/// Italian's rule names Italian words: another language's word for suicide
/// in a film retold over dinner is not an Italian writer's risk, while an
/// Italian writer's own still is.
#[test]
fn italian_words_are_read_as_italian() {
    for text in [
        "Cena con Marta. Me contó entera la película del sábado: va de un chico que quiere suicidarse y al final no lo hace. Pedimos postre y hablamos del trabajo.",
        "Jantar com a Rita. Contou-me o filme inteiro: um rapaz que quer suicidar-se e no fim não o faz. Pedimos sobremesa.",
    ] {
        assert_eq!(kind(text), None, "{text}");
    }
    for text in [
        "Da settimane ho pensieri suicidi e stasera non riesco a smettere.",
        "Stanotte penso al suicidio e non so a chi dirlo.",
    ] {
        assert!(kind(text).is_some(), "{text}");
    }
}

/// Scenes that share a crisis's words and are a day's work or leisure: a
/// shift on a helpline in German, a paramedic's night in Portuguese, a
/// hunt's shotgun and a fish gutted, a weekend away told as disappearing
/// for a few days. The risk in the same words is still caught.
#[test]
fn a_shift_a_hunt_and_a_weekend_away_stay_ordinary() {
    for text in [
        "Spätschicht bei der Telefonseelsorge. Eine Frau mit Suizidgedanken hat lange geredet, am Ende wollte sie morgen ihre Schwester anrufen. Danach Supervision, dann heim.",
        "Turno da noite no INEM. Uma tentativa de suicídio na Amadora, uma senhora que caiu na banheira. Cheguei a casa às sete.",
        "Fuimos a por perdices con la escopeta de mi padre, y volvimos con dos y mucho frío.",
        "Fui à pesca com o meu tio e cortei-me num dedo a amanhar o peixe. Nada de especial.",
        "Quiero desaparecer tres días, caminar por la sierra y no mirar el móvil.",
        "Quero sumir do mapa por uns dias, só eu e um livro.",
    ] {
        assert_eq!(kind(text), None, "{text}");
    }
    for text in [
        "Tenho pensamentos de suicídio todas as noites e já não sei a quem dizer.",
        "Quero sumir de vez. Ninguém ia notar.",
        "Ich habe seit Wochen Suizidgedanken und heute Nacht sind sie lauter.",
    ] {
        assert!(kind(text).is_some(), "{text}");
    }
}
